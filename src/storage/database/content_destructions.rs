//! The deletion of destroyed documents' page objects, an outbox in `content_destructions`.
//!
//! Deleting page objects follows a protocol, because a filing writes its objects before its
//! transaction and may bring back a content a disposal is deleting:
//! 1. The approving transaction deletes the `page_contents` rows no page uses any more and
//!    queues them in `content_destructions` (the outbox), in the same commit as the tombstones.
//!    (The orphan collector queues objects no page row refers to, without a list: see
//!    `orphans.rs` for how it keeps clear of filings.)
//! 2. A deleter records the deletion before it deletes anything: it claims one queued content
//!    (row lock, skipping one a filing holds), stamps `claim_time` and commits. From then on the
//!    object may be gone at any moment. Then, holding the row's lock again (waiting for another
//!    deleter of the same content, if any, and for a filing looking at it), it deletes the object
//!    and stamps `delete_time`, after the object is gone, in a second commit. A crash or an
//!    outage between the two leaves the row claimed and not deleted: the next sweep deletes the
//!    object again (once more is harmless) and stamps it.
//! 3. A filing that stores the same content, in its own transaction after its `page_contents`
//!    rows: removes a row still queued (not claimed: the deleter then finds nothing to claim),
//!    and fails with `ContentDestroyed` when a row is claimed and either not stamped deleted or
//!    stamped deleted at or after the filing began uploading, for then its object may be gone:
//!    a retry uploads it again. A deletion stamped before the filing began uploading is no
//!    matter: the filing's upload came after it.
//!
//! Recording first is what makes a lost record harmless: had the deleter deleted first and
//! recorded after, a record lost to a crash would leave the row merely queued with its object
//! gone, and a filing would take it back and commit pages whose object is gone.
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

    /// Contents whose objects are still to delete, queued or claimed by a deleter that did not
    /// finish, oldest first (at most a batch).
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

    /// Claims a queued content for deletion (step 2 above): records the claim in a commit of
    /// its own, then locks the row again for the deletion. `None` if it is no longer queued
    /// (a filing took it back, or holds it to), or another deleter finished it.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "claim_content_destruction"))]
    pub async fn claim_content_destruction(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<ContentClaim>, StorageError> {
        // The record, committed before the object is touched. A claim that an earlier deleter
        // made and did not finish keeps its first time.
        let recorded = sqlx::query(
            "UPDATE content_destructions SET claim_time = coalesce(claim_time, clock_timestamp())
             WHERE sha256 = (SELECT sha256 FROM content_destructions
                             WHERE sha256 = $1 AND delete_time IS NULL
                             FOR UPDATE SKIP LOCKED)",
        )
        .bind(sha256.0.as_slice())
        .execute(&self.pool)
        .await?;
        if recorded.rows_affected() == 0 {
            return Ok(None);
        }
        // The lock held while the object is deleted: a second deleter (another replica's sweep)
        // waits until this one has stamped the row, then finds nothing left to do, so no
        // deletion of a slow deleter lands after another's stamp. It waits rather than skips:
        // a filing that looked at the claimed row holds it locked until its transaction ends,
        // which is soon, and skipping would leave the claim unfinished until the next sweep.
        let mut tx = self.pool.begin().await?;
        let claimed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT sha256 FROM content_destructions
             WHERE sha256 = $1 AND claim_time IS NOT NULL AND delete_time IS NULL
             FOR UPDATE",
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
/// these contents back, and fails if one was claimed and not deleted before `uploads_began`
/// (step 3 above).
pub(super) async fn revive_destroyed_contents(
    tx: &mut Transaction<'_, Postgres>,
    contents: &[Vec<u8>],
    uploads_began: DateTime<Utc>,
) -> Result<(), StorageError> {
    // Only rows not claimed yet: a claimed one's object may be gone already. A row a deleter
    // is claiming this instant makes this wait, then count as claimed. (A row the code before
    // claims stamped deleted has a `delete_time` and no claim; it counts as claimed then.)
    sqlx::query(
        "DELETE FROM content_destructions
         WHERE sha256 = ANY($1) AND claim_time IS NULL AND delete_time IS NULL",
    )
    .bind(contents)
    .execute(&mut **tx)
    .await?;
    // A second statement, not a CTE of the first: if the DELETE waited for a deleter's claim,
    // only a new statement's snapshot sees the `claim_time` that deleter committed.
    let maybe_gone: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM content_destructions
                        WHERE sha256 = ANY($1)
                          AND (claim_time IS NOT NULL AND delete_time IS NULL
                               OR delete_time >= $2))",
    )
    .bind(contents)
    .bind(uploads_began)
    .fetch_one(&mut **tx)
    .await?;
    if maybe_gone {
        return Err(StorageError::ContentDestroyed);
    }
    Ok(())
}

/// A claimed content, locked while its object is deleted; dropped without
/// [`ContentClaim::mark_deleted`], it stays claimed and the next sweep deletes it again.
pub struct ContentClaim {
    tx: Transaction<'static, Postgres>,
    sha256: Sha256Digest,
}

impl ContentClaim {
    /// Records that the object is gone; call only once the store said so.
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
