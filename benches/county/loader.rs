//! Loads a generated county into its own database with COPY: the crate's migrations first, so
//! the schema is exactly the server's; then foreign keys and secondary indexes are set aside
//! while the rows stream in, and rebuilt from their own definitions afterwards (one sort per
//! index and one join per key instead of millions of single-row checks).

use std::sync::Arc;
use std::time::{Duration, Instant};

use custodian::domain::ChainKey;
use custodian::storage::Database;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::Preset;
use crate::dataset::{
    Batch, CUSTOMER_COLUMNS, County, DOCUMENT_COLUMNS, PAGE_COLUMNS, VERSION_COLUMNS,
};
use crate::objects::PagePool;

/// Accounts generated and copied at a time (about 50,000 documents).
const ACCOUNTS_PER_BATCH: u64 = 5_000;
/// The tables the generator fills; their keys and indexes are rebuilt after the load.
const TABLES: &[&str] = &["customers", "documents", "document_versions", "pages"];

pub async fn load(preset: Preset, seed: u64, pool: Arc<PagePool>) -> anyhow::Result<()> {
    let url = preset.database_url()?;
    let name = format!("custodian_bench_{}", preset.name());
    let phase = Instant::now();
    let mut admin = PgConnection::connect(&crate::env("CUSTODIAN_DATABASE__URL")?).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    migrate(&url).await?;
    done("database created and migrated", phase);

    let mut db = PgConnection::connect(&url).await?;
    for setting in [
        "SET synchronous_commit = off",
        "SET maintenance_work_mem = '512MB'",
        "SET work_mem = '256MB'",
    ] {
        sqlx::query(setting).execute(&mut db).await?;
    }
    let phase = Instant::now();
    let mut contents = String::new();
    for image in pool.small.iter().chain(&pool.large) {
        contents.push_str(&format!(
            "\\\\x{}\timage/jpeg\t{}\n",
            hex::encode(image.sha256),
            image.bytes.len()
        ));
    }
    copy(
        &mut db,
        "page_contents (sha256, media_type, size_bytes)",
        &contents,
    )
    .await?;
    let (drops, rebuilds): (Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
                format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                       pg_get_constraintdef(oid))
         FROM pg_constraint
         WHERE contype = 'f' AND conrelid = ANY($1::text[]::regclass[])
         UNION ALL
         SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
         FROM pg_index i
         WHERE i.indrelid = ANY($1::text[]::regclass[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                           WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)",
    )
    .bind(TABLES)
    .fetch_all(&mut db)
    .await?
    .into_iter()
    .unzip();
    for statement in &drops {
        sqlx::query(statement).execute(&mut db).await?;
    }

    let accounts = preset.accounts();
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Batch>(2);
    // Rows are made on another thread while PostgreSQL takes the previous batch.
    let generator = tokio::task::spawn_blocking(move || {
        let mut county = County::new(seed, accounts, pool);
        for from in (0..accounts).step_by(ACCOUNTS_PER_BATCH as usize) {
            if sender
                .blocking_send(county.batch(from, from + ACCOUNTS_PER_BATCH))
                .is_err()
            {
                return;
            }
        }
    });
    let (mut documents, mut pages) = (0u64, 0u64);
    let mut loaded = 0u64;
    while let Some(batch) = batches.recv().await {
        copy(&mut db, CUSTOMER_COLUMNS, &batch.customers).await?;
        copy(&mut db, DOCUMENT_COLUMNS, &batch.documents).await?;
        copy(&mut db, VERSION_COLUMNS, &batch.versions).await?;
        copy(&mut db, PAGE_COLUMNS, &batch.pages).await?;
        documents += batch.document_count;
        pages += batch.page_count;
        loaded += ACCOUNTS_PER_BATCH;
        if loaded.is_multiple_of(10 * ACCOUNTS_PER_BATCH) {
            eprintln!(
                "  {loaded} accounts, {documents} documents, {pages} pages ({:.0} documents/s)",
                documents as f64 / phase.elapsed().as_secs_f64()
            );
        }
    }
    generator.await?;
    done(
        &format!(
            "COPY of {accounts} accounts, {documents} documents, {pages} pages \
             (keys and secondary indexes set aside)"
        ),
        phase,
    );

    let phase = Instant::now();
    // Indexes first: the foreign-key checks use them.
    let (constraints, indexes): (Vec<&String>, Vec<&String>) = rebuilds
        .iter()
        .partition(|statement| statement.starts_with("ALTER TABLE"));
    for statement in indexes.into_iter().chain(constraints) {
        let step = Instant::now();
        sqlx::query(statement).execute(&mut db).await?;
        eprintln!("  {statement} ({:.1} s)", step.elapsed().as_secs_f64());
    }
    done(
        "indexes and foreign keys rebuilt as the migrations define them",
        phase,
    );

    let phase = Instant::now();
    // Sets the visibility map (index-only scans) and the planner's statistics, as a database
    // in service would have them.
    sqlx::query("VACUUM (ANALYZE)").execute(&mut db).await?;
    done("VACUUM (ANALYZE)", phase);
    Ok(())
}

/// Streams COPY text rows into `target` ("table (columns)").
async fn copy(db: &mut PgConnection, target: &str, rows: &str) -> anyhow::Result<u64> {
    let mut copy = db.copy_in_raw(&format!("COPY {target} FROM STDIN")).await?;
    // COPY data is a byte stream: rows may span messages.
    for chunk in rows.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    Ok(copy.finish().await?)
}

fn done(what: &str, since: Instant) {
    println!("{what}: {:.1} s", since.elapsed().as_secs_f64());
}

/// Brings a preset's database to the crate's schema: a county generated before a newer
/// migration keeps working.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let database = Database::connect_lazy(
        &SecretString::from(url.to_owned()),
        1,
        Duration::from_secs(10),
        ChainKey::new("bench-county"),
    )?;
    database.migrate().await?;
    database.close().await;
    Ok(())
}
