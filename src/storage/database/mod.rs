//! PostgreSQL: the pool, migrations, and one module of queries per resource.

mod audit;
mod codec;
mod completeness;
mod content_destructions;
mod customer_history;
mod customers;
mod disposal;
mod document_reads;
mod document_types;
mod documents;
mod orphans;
mod pages;
mod retention;
mod versions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

pub use documents::NewDocument;
pub use versions::{NewVersion, VersionInsert};

use super::StorageError;
use crate::domain::ChainKey;

/// A pooled connection idle this long is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The metadata database.
#[derive(Clone, Debug)]
pub struct Database {
    pool: PgPool,
    chain_key: ChainKey,
    document_reads: Arc<document_reads::DocumentReads>,
}

impl Database {
    /// Creates a pool that connects on first use, so the server can start (and report
    /// NOT_SERVING) while PostgreSQL is still down.
    pub fn connect_lazy(
        url: &SecretString,
        max_connections: u32,
        acquire_timeout: Duration,
        chain_key: ChainKey,
    ) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|error| StorageError::Unexpected(error.into()))?;
        let readers = document_readers(max_connections);
        let pool =
            pool_options(max_connections, acquire_timeout).connect_lazy_with(options.clone());
        // The batched read's best plan does not depend on how many ids it is given, but
        // PostgreSQL's default re-plans it on every execution, which cost more than running
        // it: this pool's sessions keep the generic plan.
        let reader_pool = pool_options(readers as u32, acquire_timeout)
            .connect_lazy_with(options.options([("plan_cache_mode", "force_generic_plan")]));
        Ok(Self {
            pool,
            chain_key,
            document_reads: Arc::new(document_reads::DocumentReads::new(reader_pool, readers)),
        })
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => error.into(),
            other => StorageError::Unexpected(other.into()),
        })
    }

    /// Succeeds when PostgreSQL answers a query.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The key the audit chain is hashed with.
    pub fn chain_key(&self) -> &ChainKey {
        &self.chain_key
    }

    /// The pools' connections, the document readers' included: (open, idle).
    pub fn pool_connections(&self) -> (u64, u64) {
        let readers = self.document_reads.pool();
        (
            u64::from(self.pool.size() + readers.size()),
            (self.pool.num_idle() + readers.num_idle()) as u64,
        )
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        tokio::join!(self.pool.close(), self.document_reads.pool().close());
    }
}

/// A pool that connects on first use and pings only connections idle long enough to have been
/// dropped meanwhile (sqlx's default pings every connection it hands out, a round trip as long
/// as most of our queries).
fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_BEFORE_PING {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// How many batched document reads may run at once, each on a connection of its own beside the
/// main pool: a quarter of the main pool, so each statement gathers the lookups of several
/// callers.
fn document_readers(max_connections: u32) -> usize {
    (max_connections as usize / 4).max(1)
}
