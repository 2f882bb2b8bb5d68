//! The deletion of destroyed documents' page objects, an outbox in `content_destructions`.
//!
//! Deleting page objects follows a protocol, because a filing writes its objects before its
//! transaction and may bring back a content a disposal is deleting:
//! 1. The approving transaction deletes the `page_contents` rows no page uses any more and
//!    queues them in `content_destructions` (the outbox), in the same commit as the tombstones.
//! 2. A deleter claims one queued content (row lock), deletes the object, stamps `delete_time`
//!    and commits. Not done after a crash: it runs again at the next start.
//! 3. A filing that stores the same content, in its own transaction, removes a queued row (the
//!    deleter then finds nothing to delete) or, when the row says the object was deleted after
//!    the filing began uploading, fails with `ContentDestroyed`: a retry uploads it again.
//!
//! Both times come from PostgreSQL's clock (`Database::clock_now`), so replicas whose clocks
//! differ cannot misjudge the order.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::Database;
use super::codec::sha256;
use crate::domain::Sha256Digest;
use crate::storage::StorageError;

impl Database {
    /// PostgreSQL's clock: the one time source all replicas share, for ordering a filing's
    /// uploads against deletions.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "clock_now"))]
    pub async fn clock_now(&self) -> Result<DateTime<Utc>, StorageError> {
        Ok(sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Contents queued for deletion, oldest first (at most a batch).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "pending_content_destructions"))]
    pub async fn pending_content_destructions(&self) -> Result<Vec<Sha256Digest>, StorageError> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT sha256 FROM content_destructions WHERE delete_time IS NULL
             ORDER BY queue_time LIMIT 10000",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|bytes| sha256("sha256", bytes))
            .collect()
    }

    /// Locks a queued content for deletion; `None` if it is no longer queued.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "claim_content_destruction"))]
    pub async fn claim_content_destruction(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<ContentClaim>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT sha256 FROM content_destructions
             WHERE sha256 = $1 AND delete_time IS NULL FOR UPDATE SKIP LOCKED",
        )
        .bind(sha256.0.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        Ok(claimed.map(|_| ContentClaim {
            tx,
            sha256: *sha256,
        }))
    }
}

/// Within a filing's transaction, after its `page_contents` rows: takes queued destructions of
/// these contents back, and fails if one was deleted after `uploads_began` (step 3 above).
pub(super) async fn revive_destroyed_contents(
    tx: &mut Transaction<'_, Postgres>,
    contents: &[Vec<u8>],
    uploads_began: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM content_destructions WHERE sha256 = ANY($1) AND delete_time IS NULL")
        .bind(contents)
        .execute(&mut **tx)
        .await?;
    // A second statement, not a CTE of the first: if the DELETE waited for a deleter's lock,
    // only a new statement's snapshot sees the `delete_time` that deleter committed.
    let deleted_since: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM content_destructions
                        WHERE sha256 = ANY($1) AND delete_time >= $2)",
    )
    .bind(contents)
    .bind(uploads_began)
    .fetch_one(&mut **tx)
    .await?;
    if deleted_since {
        return Err(StorageError::ContentDestroyed);
    }
    Ok(())
}

/// A queued content, locked while its object is deleted.
pub struct ContentClaim {
    tx: Transaction<'static, Postgres>,
    sha256: Sha256Digest,
}

impl ContentClaim {
    /// Records the deletion, stamped after the object is gone.
    pub async fn mark_deleted(mut self) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE content_destructions SET delete_time = clock_timestamp() WHERE sha256 = $1",
        )
        .bind(self.sha256.0.as_slice())
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
