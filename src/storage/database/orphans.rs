//! Orphan page objects: objects a filing wrote and then did not commit, so no page row refers to
//! them. The collector queues them in `content_destructions` (without a list), and the deleter
//! of disposals deletes them, following the protocol of `content_destructions.rs`.
//!
//! Queueing must not race a filing that is committing the same content: the filing's
//! `page_contents` row is invisible until it commits, and once its transaction has looked for a
//! queued row it would not see one queued after. So contents are guarded by advisory locks,
//! one of 64 stripes by the digest's first byte: a filing holds its contents' stripes shared
//! from before its `page_contents` rows until it commits; the collector queues a content only
//! while it holds the stripe exclusively (it only tries, never waits) and only if, seen after
//! taking the lock, no `page_contents` row has it. A filing that commits first is seen; one
//! that takes the lock after finds the queued row and takes it back (or, if the deleter claimed
//! it meanwhile, fails and is retried).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::Database;
use crate::domain::Sha256Digest;
use crate::storage::StorageError;

/// The advisory lock class of content stripes ("page"), apart from any other advisory lock.
const CONTENT_LOCK_CLASS: i32 = 0x7061_6765;

/// The stripe of a content: 64 of them, so a filing of a thousand pages takes at most 64 locks.
fn stripe(sha256: &[u8]) -> i32 {
    i32::from(sha256.first().copied().unwrap_or(0) >> 2)
}

fn stripes<'a>(contents: impl Iterator<Item = &'a [u8]>) -> Vec<i32> {
    let mut stripes: Vec<i32> = contents.map(stripe).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes
}

/// Within a filing's transaction, before its `page_contents` rows: holds these contents'
/// stripes shared until the commit, so no collector queues them meanwhile.
pub(super) async fn guard_contents(
    tx: &mut Transaction<'_, Postgres>,
    contents: &[Vec<u8>],
) -> Result<(), StorageError> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1, s) FROM UNNEST($2::int[]) AS s")
        .bind(CONTENT_LOCK_CLASS)
        .bind(stripes(contents.iter().map(Vec::as_slice)))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Database {
    /// Queues for deletion those of `contents` that no page row refers to and no filing is
    /// committing; returns how many were queued. A content whose earlier deletion finished
    /// before `listing_began` is queued again (a failed filing brought its object back); one
    /// queued, claimed, or deleted since is left as it is.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "queue_orphan_contents"))]
    pub async fn queue_orphan_contents(
        &self,
        contents: &[Sha256Digest],
        listing_began: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        let mut tx = self.pool.begin().await?;
        let locked: Vec<i32> = sqlx::query_scalar(
            "SELECT s FROM UNNEST($2::int[]) AS s WHERE pg_try_advisory_xact_lock($1, s)",
        )
        .bind(CONTENT_LOCK_CLASS)
        .bind(stripes(contents.iter().map(|c| c.0.as_slice())))
        .fetch_all(&mut *tx)
        .await?;
        // The rest waits for the next run: a filing is committing in their stripes.
        let guarded: Vec<Vec<u8>> = contents
            .iter()
            .filter(|c| locked.contains(&stripe(&c.0)))
            .map(|c| c.0.to_vec())
            .collect();
        // A statement after the locks: its snapshot sees every filing that committed before.
        let queued = sqlx::query(
            "INSERT INTO content_destructions (sha256, list_id)
             SELECT c, NULL FROM UNNEST($1::bytea[]) AS c
             WHERE NOT EXISTS (SELECT 1 FROM page_contents p WHERE p.sha256 = c)
             ON CONFLICT (sha256) DO UPDATE
                 SET list_id = NULL, queue_time = now(), claim_time = NULL, delete_time = NULL
                 WHERE content_destructions.delete_time < $2",
        )
        .bind(&guarded)
        .bind(listing_began)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(queued.rows_affected() as usize)
    }

    /// Whether this replica should run `job` now: true for the first to ask once `interval` has
    /// passed since the last start by any replica.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "claim_upkeep_run"))]
    pub async fn claim_upkeep_run(
        &self,
        job: &str,
        interval: Duration,
    ) -> Result<bool, StorageError> {
        let claimed = sqlx::query(
            "INSERT INTO upkeep_runs (job, last_start) VALUES ($1, clock_timestamp())
             ON CONFLICT (job) DO UPDATE SET last_start = EXCLUDED.last_start
                 WHERE upkeep_runs.last_start <= clock_timestamp() - make_interval(secs => $2)",
        )
        .bind(job)
        .bind(interval.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_fall_into_64_stripes_by_their_first_byte() {
        assert_eq!(stripe(&[0x00, 0xFF]), 0);
        assert_eq!(stripe(&[0x03]), 0);
        assert_eq!(stripe(&[0x04]), 1);
        assert_eq!(stripe(&[0xFF]), 63);
        assert_eq!(
            stripes([[0x05u8].as_slice(), &[0x04], &[0xFF]].into_iter()),
            vec![1, 63]
        );
    }
}
