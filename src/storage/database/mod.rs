//! PostgreSQL: the pool, migrations, and one module of queries per resource.

mod audit;
mod completeness;
mod content_destructions;
mod customer_history;
mod customers;
mod disposal;
mod document_types;
mod documents;
mod retention;
mod versions;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;
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
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            // sqlx pings every connection it hands out, a round trip as long as most of our
            // queries; ping only those idle long enough to have been dropped meanwhile (a
            // restarted PostgreSQL), which is what the ping is for.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy(url.expose_secret())
            .map_err(|error| StorageError::Unexpected(error.into()))?;
        Ok(Self { pool, chain_key })
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

    /// The pool's connections: (open, idle).
    pub fn pool_connections(&self) -> (u64, u64) {
        (u64::from(self.pool.size()), self.pool.num_idle() as u64)
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Converts a column's text into a domain value, or reports the corrupt row.
fn decode<T>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(value).ok_or_else(|| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds an unknown value {value:?}"
        ))
    })
}

/// Converts a stored confidentiality level.
fn decode_confidentiality(level: i16) -> Result<crate::domain::Confidentiality, StorageError> {
    crate::domain::Confidentiality::from_level(level).ok_or_else(|| {
        StorageError::Unexpected(anyhow::anyhow!("unknown confidentiality level {level}"))
    })
}

/// Like [`decode`] for the domain's `parse` functions that explain their refusal.
fn parse_column<T>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, StorageError> {
    parse(value).map_err(|reason| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds an invalid value: {reason}"
        ))
    })
}
