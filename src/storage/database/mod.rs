//! PostgreSQL: the pool, migrations, and one module of queries per resource.

mod audit;
mod codec;
mod completeness;
mod content_destructions;
mod customer_history;
mod customer_search;
mod customers;
mod declassifications;
mod disposal;
mod document_reads;
mod document_types;
mod documents;
mod fixity;
mod loans;
mod orphans;
mod pages;
mod paper;
mod renditions;
mod retention;
mod scan_quality;
mod search;
mod statistics;
mod versions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

pub use documents::NewDocument;
pub use fixity::FixityFailure;
pub use versions::{NewVersion, VersionInsert};

use super::StorageError;
use crate::domain::{ChainKey, IdentifierKey};

/// A pooled connection idle this long is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// PostgreSQL's `statement_timeout` per class of query; `None` runs without a limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementTimeouts {
    /// Every statement but the batched single-document reads: listings, filings, reports'
    /// batches, the audit writer.
    pub general: Option<Duration>,
    /// The batched single-document reads of GetDocument and ReadPage, which take milliseconds.
    pub lookups: Option<Duration>,
}

/// The metadata database.
#[derive(Clone, Debug)]
pub struct Database {
    pool: PgPool,
    chain_key: ChainKey,
    /// The blind index's key; without one, ID numbers and phones are not indexed (the backfill
    /// at startup catches up once a key is configured).
    identifier_key: Option<IdentifierKey>,
    document_reads: Arc<document_reads::DocumentReads>,
}

impl Database {
    /// Creates the pools (at most `max_connections` connections between them, given at least
    /// two) that connect on first use, so the server can start (and report NOT_SERVING) while
    /// PostgreSQL is still down. Statements run without a time limit: for migrations, the CLI's
    /// full chain verification and tests.
    pub fn connect_lazy(
        url: &SecretString,
        max_connections: u32,
        acquire_timeout: Duration,
        chain_key: ChainKey,
    ) -> Result<Self, StorageError> {
        Self::connect_lazy_with_timeouts(
            url,
            max_connections,
            acquire_timeout,
            chain_key,
            StatementTimeouts::default(),
        )
    }

    /// Creates the pools as [`Database::connect_lazy`] does, with PostgreSQL's
    /// `statement_timeout` set on every session of each class: a statement still running after
    /// it is cancelled by PostgreSQL itself, so a call the server gave up on (its unary timeout,
    /// a caller gone) does not leave its query running on.
    pub fn connect_lazy_with_timeouts(
        url: &SecretString,
        max_connections: u32,
        acquire_timeout: Duration,
        chain_key: ChainKey,
        timeouts: StatementTimeouts,
    ) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|error| StorageError::Unexpected(error.into()))?;
        let limit = |timeout: Option<Duration>| {
            // 0 is PostgreSQL's "no limit".
            timeout.map_or_else(|| "0".to_owned(), |t| t.as_millis().max(1).to_string())
        };
        let general = limit(timeouts.general);
        let lookups = limit(timeouts.lookups);
        // `max_connections` is the pod's whole budget: the readers' pool is carved out of it.
        let (main, readers) = split_connections(max_connections);
        let pool = pool_options(main, acquire_timeout).connect_lazy_with(
            options
                .clone()
                .options([("statement_timeout", general.as_str())]),
        );
        // The batched read's best plan does not depend on how many ids it is given, but
        // PostgreSQL's default re-plans it on every execution, which cost more than running
        // it: this pool's sessions keep the generic plan.
        let reader_pool =
            pool_options(readers as u32, acquire_timeout).connect_lazy_with(options.options([
                ("plan_cache_mode", "force_generic_plan"),
                ("statement_timeout", lookups.as_str()),
            ]));
        Ok(Self {
            pool,
            chain_key,
            identifier_key: None,
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

    /// Keys the blind index of ID numbers and phones with `key`.
    pub fn with_identifier_key(mut self, key: Option<IdentifierKey>) -> Self {
        self.identifier_key = key;
        self
    }

    /// The key the blind index is kept with, if one is configured.
    pub fn identifier_key(&self) -> Option<&IdentifierKey> {
        self.identifier_key.as_ref()
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

/// Splits the connection budget: the batched document reads get a quarter (at least one), each
/// on a connection of its own, so each statement gathers the lookups of several callers; the
/// main pool gets the rest (at least one, so a budget of one still opens two).
fn split_connections(max_connections: u32) -> (u32, usize) {
    let readers = (max_connections / 4).max(1);
    (
        max_connections.saturating_sub(readers).max(1),
        readers as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pools_share_the_configured_connections_between_them() {
        for max_connections in [2, 3, 4, 5, 16, 17, 100] {
            let (main, readers) = split_connections(max_connections);
            assert_eq!(main + readers as u32, max_connections, "{max_connections}");
            assert!(main >= 1 && readers >= 1);
        }
        assert_eq!(split_connections(16), (12, 4));
        assert_eq!(split_connections(1), (1, 1), "one is the least of each");
    }

    #[tokio::test]
    async fn a_database_opens_at_most_max_connections() {
        let database = Database::connect_lazy(
            &SecretString::from("postgres://u:p@127.0.0.1:1/d"),
            16,
            Duration::from_secs(1),
            ChainKey::new("k"),
        )
        .unwrap();
        let readers = database.document_reads.pool();
        assert_eq!(
            database.pool.options().get_max_connections() + readers.options().get_max_connections(),
            16
        );
    }
}
