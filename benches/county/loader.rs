//! Loads a generated county into its own database with COPY: the crate's migrations first, so
//! the schema is exactly the server's; then foreign keys and secondary indexes are set aside
//! while the rows stream in, and rebuilt from their own definitions afterwards (one sort per
//! index and one join per key instead of millions of single-row checks). The row triggers
//! that keep the customers' history, the archive index (`document_index`) and the statistics
//! rollups are off during the load too: what they would write row by row is written after it
//! with one `INSERT … SELECT` each, the same statements the migrations backfill with
//! ([`derive`]), and the triggers are back on before any server runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use custodian::domain::ChainKey;
use custodian::storage::Database;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::Preset;
use crate::dataset::{
    Batch, CUSTOMER_COLUMNS, County, DIGEST_COLUMNS, DOCUMENT_COLUMNS, PAGE_COLUMNS,
    VERSION_COLUMNS,
};
use crate::objects::PagePool;

/// Accounts generated and copied at a time (about 50,000 documents).
const ACCOUNTS_PER_BATCH: u64 = 5_000;
/// The tables the generator fills; their keys and indexes are rebuilt after the load, and
/// their row triggers are off until then.
const TABLES: &[&str] = &[
    "customers",
    "customer_revisions",
    "customer_identifier_digests",
    "documents",
    "document_versions",
    "pages",
    "document_index",
];

pub async fn load(preset: Preset, seed: u64, pool: Arc<PagePool>) -> anyhow::Result<()> {
    let url = preset.database_url()?;
    let name = preset.database_name();
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
    // `rendition_state` stays NULL: contents stored before renditions existed, which the
    // server shows as not queued and makes renditions of only when `backfill-renditions`
    // queues them, so no worker starts rendering the county behind a measurement.
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
    for table in TABLES {
        sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
            .execute(&mut db)
            .await?;
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
        copy(&mut db, DIGEST_COLUMNS, &batch.digests).await?;
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

    derive(&mut db).await?;
    for table in TABLES {
        sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
            .execute(&mut db)
            .await?;
    }

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

/// What the row triggers would have written during the load, in bulk: each customer's first
/// revision, the archive index row of each document (its page count and size from the
/// version row, which the generator fills from the same page contents), and the statistics
/// rollups aggregated from them, stored in key order (month first), as the rows a live archive
/// adds month by month lie.
async fn derive(db: &mut PgConnection) -> anyhow::Result<()> {
    let steps = [
        (
            "customer_revisions",
            "INSERT INTO customer_revisions (account_number, revision, display_name,
                 customer_class, org_unit_code, status, id_number, phone, address, valid_from)
             SELECT account_number, revision, display_name, customer_class, org_unit_code,
                    status, id_number, phone, address, update_time
             FROM customers",
        ),
        (
            "document_index",
            "INSERT INTO document_index
             SELECT d.document_id, d.account_number, c.org_unit_code, c.customer_class, c.status,
                    v.document_type, v.business_process, v.work_order_number, d.source_system,
                    d.legacy_reference, d.filed_at, d.original_at, v.page_count, v.size_bytes
             FROM documents d
             JOIN customers c ON c.account_number = d.account_number
             JOIN document_versions v
               ON v.document_id = d.document_id AND v.version = d.current_version
             WHERE d.destroyed_at IS NULL",
        ),
        (
            "document_statistics",
            "INSERT INTO document_statistics
             SELECT statistics_month(filed_at), org_unit_code, document_type, business_process,
                    customer_class, customer_status, count(*), sum(page_count), sum(size_bytes)
             FROM document_index
             GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6",
        ),
        (
            "document_totals",
            "INSERT INTO document_totals
             SELECT month, org_unit_code, document_type, business_process, sum(documents),
                    sum(pages), sum(bytes)
             FROM document_statistics
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        ),
        (
            "archive_statistics",
            "INSERT INTO archive_statistics
             SELECT org_unit_code, customer_class, status, count(*)
             FROM customers GROUP BY 1, 2, 3",
        ),
    ];
    for (table, statement) in steps {
        let phase = Instant::now();
        let rows = sqlx::query(statement)
            .execute(&mut *db)
            .await?
            .rows_affected();
        done(&format!("{table}: {rows} rows in bulk"), phase);
    }
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
