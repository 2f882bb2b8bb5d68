//! The rendition queue (`rendition_jobs`), the renditions made (`page_renditions`) and each
//! content's rendition state (`page_contents.rendition_state`).
//!
//! The protocol:
//! 1. A filing's transaction queues a job for each content it is the first to store (see
//!    `pages.rs`), so a committed page always has its job and a rolled-back one none.
//! 2. A worker claims the due job queued longest ago, skipping rows other workers hold
//!    (`FOR UPDATE SKIP LOCKED`), in a commit of its own that counts the attempt, stamps a
//!    fresh claim id and moves `next_attempt_at` past the lease. It renders with no
//!    transaction open. A worker that dies leaves the job to be claimed again once the lease
//!    ends.
//! 3. The worker writes the rendition objects, then, in one transaction, deletes the job of its
//!    own claim, records the renditions and marks the content ready. Finding no job of its claim
//!    (the content was destroyed, cascading the job away, or its lease ran out and another
//!    worker took it), it changes nothing.
//!
//! A destroyed content takes its job and rendition rows with it (`ON DELETE CASCADE`); the
//! deleter of page objects deletes the rendition objects with the page's (content_destructions.rs).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::Database;
use super::codec::{decode, encode, sha256};
use crate::domain::{RenditionInfo, RenditionJob, RenditionKind, Sha256Digest};
use crate::storage::StorageError;

/// Contents the backfill queues per transaction: short transactions on a table filings use.
const BACKFILL_BATCH: i64 = 10_000;

impl Database {
    /// Claims the due job queued longest ago for `lease` (step 2 above).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "claim_rendition_job"))]
    pub async fn claim_rendition_job(
        &self,
        lease: Duration,
    ) -> Result<Option<RenditionJob>, StorageError> {
        let claim = Uuid::new_v4();
        let row = sqlx::query(
            "WITH due AS (
                 SELECT sha256 FROM rendition_jobs
                 WHERE next_attempt_at <= clock_timestamp()
                 ORDER BY next_attempt_at
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             UPDATE rendition_jobs j
             SET attempts = j.attempts + 1, claim = $1,
                 next_attempt_at = clock_timestamp() + make_interval(secs => $2)
             FROM due, page_contents c
             WHERE j.sha256 = due.sha256 AND c.sha256 = j.sha256
             RETURNING j.sha256, c.media_type, c.size_bytes, j.attempts,
                       extract(epoch FROM clock_timestamp() - j.queued_at)::float8 AS waited",
        )
        .bind(claim)
        .bind(lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let waited: f64 = row.try_get("waited")?;
        Ok(Some(RenditionJob {
            sha256: sha256("sha256", row.try_get("sha256")?)?,
            media_type: decode("media_type", row.try_get::<&str, _>("media_type")?)?,
            size_bytes: {
                let size: i64 = row.try_get("size_bytes")?;
                u64::try_from(size).map_err(|_| {
                    StorageError::Unexpected(anyhow::anyhow!("column size_bytes holds {size}"))
                })?
            },
            attempts: row.try_get::<i32, _>("attempts")?.max(0) as u32,
            claim,
            waited: Duration::from_secs_f64(waited.max(0.0)),
        }))
    }

    /// Records a claimed job's renditions and whether its page is blank, and marks its content
    /// ready (step 3 above); false if the job of this claim is gone.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "finish_rendition"))]
    pub async fn finish_rendition(
        &self,
        job: &RenditionJob,
        renditions: &[RenditionInfo],
        blank: bool,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        if !take_job(&mut tx, job).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO page_renditions (sha256, kind, rendition_sha256, size_bytes, width, height)
             SELECT $1, * FROM UNNEST($2::text[], $3::bytea[], $4::bigint[], $5::int[], $6::int[])
             ON CONFLICT (sha256, kind) DO UPDATE
                 SET rendition_sha256 = EXCLUDED.rendition_sha256,
                     size_bytes = EXCLUDED.size_bytes, width = EXCLUDED.width,
                     height = EXCLUDED.height, made_at = clock_timestamp()",
        )
        .bind(job.sha256.0.as_slice())
        .bind(renditions.iter().map(|r| encode(r.kind)).collect::<Vec<_>>())
        .bind(
            renditions
                .iter()
                .map(|r| r.sha256.0.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            renditions
                .iter()
                .map(|r| r.size_bytes as i64)
                .collect::<Vec<_>>(),
        )
        .bind(renditions.iter().map(|r| r.width as i32).collect::<Vec<_>>())
        .bind(renditions.iter().map(|r| r.height as i32).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        set_state(&mut tx, &job.sha256, "ready", None).await?;
        sqlx::query("UPDATE page_contents SET blank = $2 WHERE sha256 = $1")
            .bind(job.sha256.0.as_slice())
            .bind(blank)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a claimed job's content failed for good with `reason`; false if the job of this
    /// claim is gone.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "fail_rendition"))]
    pub async fn fail_rendition(
        &self,
        job: &RenditionJob,
        reason: &str,
    ) -> Result<bool, StorageError> {
        self.end_rendition(job, "failed", reason).await
    }

    /// Marks a claimed job's content skipped for good (too large to render) with `reason`;
    /// false if the job of this claim is gone.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "skip_rendition"))]
    pub async fn skip_rendition(
        &self,
        job: &RenditionJob,
        reason: &str,
    ) -> Result<bool, StorageError> {
        self.end_rendition(job, "skipped", reason).await
    }

    /// Deletes the job of this claim and leaves its content in `state` with `reason`.
    async fn end_rendition(
        &self,
        job: &RenditionJob,
        state: &str,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        if !take_job(&mut tx, job).await? {
            return Ok(false);
        }
        set_state(&mut tx, &job.sha256, state, Some(reason)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a claimed job back, due again after `delay`; false if the job of this claim is gone.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "retry_rendition"))]
    pub async fn retry_rendition(
        &self,
        job: &RenditionJob,
        delay: Duration,
    ) -> Result<bool, StorageError> {
        let retried = sqlx::query(
            "UPDATE rendition_jobs
             SET claim = NULL, next_attempt_at = clock_timestamp() + make_interval(secs => $3)
             WHERE sha256 = $1 AND claim = $2",
        )
        .bind(job.sha256.0.as_slice())
        .bind(job.claim)
        .bind(delay.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(retried.rows_affected() == 1)
    }

    /// Whether a content is still stored (not destroyed).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "content_exists"))]
    pub async fn content_exists(&self, content: &Sha256Digest) -> Result<bool, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM page_contents WHERE sha256 = $1)")
                .bind(content.0.as_slice())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The rendition of `kind` made of a content, if any.
    pub async fn rendition(
        &self,
        content: &Sha256Digest,
        kind: RenditionKind,
    ) -> Result<Option<RenditionInfo>, StorageError> {
        Ok(self
            .renditions(std::slice::from_ref(content), kind)
            .await?
            .remove(content))
    }

    /// The renditions of `kind` made of `contents`, by content, in one query (a document's
    /// page links); contents without one are left out.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "renditions"))]
    pub async fn renditions(
        &self,
        contents: &[Sha256Digest],
        kind: RenditionKind,
    ) -> Result<HashMap<Sha256Digest, RenditionInfo>, StorageError> {
        let digests: Vec<&[u8]> = contents.iter().map(|c| c.0.as_slice()).collect();
        let rows = sqlx::query(
            "SELECT sha256, rendition_sha256, size_bytes, width, height FROM page_renditions
             WHERE sha256 = ANY($1) AND kind = $2",
        )
        .bind(digests)
        .bind(encode(kind))
        .fetch_all(&self.pool)
        .await?;
        let positive = |column: &str, value: i64| {
            u64::try_from(value).map_err(|_| {
                StorageError::Unexpected(anyhow::anyhow!("column {column} holds {value}"))
            })
        };
        rows.iter()
            .map(|row| {
                let info = RenditionInfo {
                    kind,
                    sha256: sha256("rendition_sha256", row.try_get("rendition_sha256")?)?,
                    size_bytes: positive("size_bytes", row.try_get("size_bytes")?)?,
                    width: positive("width", i64::from(row.try_get::<i32, _>("width")?))? as u32,
                    height: positive("height", i64::from(row.try_get::<i32, _>("height")?))? as u32,
                };
                Ok((sha256("sha256", row.try_get("sha256")?)?, info))
            })
            .collect()
    }

    /// Queues every content that has no renditions and no job (stored before renditions
    /// existed), and with `retry_failed` those that failed or were skipped (after a decoder
    /// upgrade, or raised limits), in batches; returns how many.
    pub async fn backfill_renditions(&self, retry_failed: bool) -> Result<u64, StorageError> {
        let mut queued = 0;
        loop {
            match self.queue_unrendered(retry_failed, BACKFILL_BATCH).await? {
                0 => return Ok(queued),
                batch => queued += batch,
            }
        }
    }

    /// Queues up to `limit` contents that have no renditions and no job (stored before
    /// renditions existed), and with `retry_failed` those that failed or were skipped;
    /// returns how many.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "queue_unrendered"))]
    pub async fn queue_unrendered(
        &self,
        retry_failed: bool,
        limit: i64,
    ) -> Result<u64, StorageError> {
        let queued = sqlx::query(
            "WITH unrendered AS (
                 SELECT sha256 FROM page_contents
                 WHERE rendition_state IS NULL OR ($1 AND rendition_state IN ('failed', 'skipped'))
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED),
             marked AS (
                 UPDATE page_contents c SET rendition_state = 'pending', rendition_failure = NULL
                 FROM unrendered u WHERE c.sha256 = u.sha256
                 RETURNING c.sha256)
             INSERT INTO rendition_jobs (sha256) SELECT sha256 FROM marked
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(retry_failed)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(queued.rows_affected())
    }
}

/// Deletes the job of this claim, holding it until the commit; false if it is gone.
async fn take_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job: &RenditionJob,
) -> Result<bool, StorageError> {
    let taken = sqlx::query("DELETE FROM rendition_jobs WHERE sha256 = $1 AND claim = $2")
        .bind(job.sha256.0.as_slice())
        .bind(job.claim)
        .execute(&mut **tx)
        .await?;
    Ok(taken.rows_affected() == 1)
}

async fn set_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    content: &Sha256Digest,
    state: &str,
    failure: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE page_contents SET rendition_state = $2, rendition_failure = $3 WHERE sha256 = $1",
    )
    .bind(content.0.as_slice())
    .bind(state)
    .bind(failure)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
