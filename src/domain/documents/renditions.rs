//! Renditions of pages (a thumbnail and a preview in JPEG): their state as callers see it on a
//! page, the workers' use case that makes them from the durable queue, and reading one back
//! under the page's own rules.
//!
//! Renditions belong to a page content, not to a page: identical bytes on many pages are
//! rendered once, and the renditions go when the content is destroyed (the deleter removes
//! them with the page object).

use std::time::Duration;

use futures::TryStreamExt;
use uuid::Uuid;

use super::pages::{MediaType, PageBytes, PageInfo, Sha256Digest};
use super::rendering::{self, Rendered, RenditionKind, Unrendered};
use super::rendition_limits::PageBuffer;
use crate::domain::names::PageName;
use crate::domain::{Archive, Error};

/// Where a page's renditions stand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RenditionState {
    /// Stored before renditions existed and not queued yet (the backfill queues it).
    #[default]
    NotQueued,
    /// Queued or being made.
    Pending,
    /// Both renditions are stored.
    Ready,
    /// The content cannot be rendered: its body does not decode (corrupt behind a valid
    /// header), or it uses a variant no decoder here reads. The reason says which.
    Failed(String),
    /// The content is larger than the renditions' limits allow (`renditions.max_page_bytes`,
    /// `renditions.max_pixels`): none is made and none retried. The reason says which limit.
    Skipped(String),
}

impl RenditionState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotQueued => "not_queued",
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// A stored rendition's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionInfo {
    pub kind: RenditionKind,
    /// The digest of the rendition's own bytes.
    pub sha256: Sha256Digest,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
}

impl RenditionInfo {
    pub fn of(rendered: &Rendered) -> Self {
        use sha2::Digest;
        Self {
            kind: rendered.kind,
            sha256: Sha256Digest(sha2::Sha256::digest(&rendered.bytes).into()),
            size_bytes: rendered.bytes.len() as u64,
            width: rendered.width,
            height: rendered.height,
        }
    }
}

/// A job a worker claimed from the queue.
#[derive(Debug, Clone)]
pub struct RenditionJob {
    pub sha256: Sha256Digest,
    pub media_type: MediaType,
    /// The content's size as recorded at filing.
    pub size_bytes: u64,
    /// Claims of this job so far, this one included.
    pub attempts: u32,
    /// Identifies this claim: only its holder may finish the job.
    pub claim: Uuid,
    /// How long the job has waited since it was queued.
    pub waited: Duration,
}

/// How a worker's job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenditionOutcome {
    Ready,
    /// Marked failed with this reason, for good.
    Failed(String),
    /// Marked skipped with this reason (too large to render), for good.
    Skipped(String),
    /// Put back to be tried again later.
    Retry(String),
    /// The job was gone when the worker came to finish it (the content destroyed, or the
    /// claim expired and another worker took it).
    Lost,
}

impl RenditionOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
            Self::Retry(_) => "retry",
            Self::Lost => "lost",
        }
    }
}

/// How the rendition workers use the queue.
#[derive(Debug, Clone, Copy)]
pub struct RenditionQueue {
    /// How long a claim lasts: a worker that dies mid-job leaves it claimable after this.
    pub lease: Duration,
    /// Claims after which a job that never finished (its worker died each time) is failed.
    pub max_attempts: u32,
    /// The delay before the first retry of a passing failure; each further one doubles it.
    pub retry_after: Duration,
}

impl Default for RenditionQueue {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            max_attempts: 5,
            retry_after: Duration::from_secs(10),
        }
    }
}

impl RenditionQueue {
    /// The delay before retrying after `attempts` claims: doubling, at most an hour.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        (self.retry_after * 2u32.pow(doublings)).min(Duration::from_secs(3600))
    }
}

impl Archive {
    /// Claims the next due rendition job, renders it on a blocking thread and stores the
    /// result; returns the content, the outcome and how long the job had waited since it was
    /// queued, or `None` when no job is due. A system task, not a caller's action: it reads and
    /// writes no document and leaves no audit event.
    pub async fn render_next(
        &self,
    ) -> Result<Option<(Sha256Digest, RenditionOutcome, Duration)>, Error> {
        let queue = self.rendition_queue;
        let Some(job) = self.db.claim_rendition_job(queue.lease).await? else {
            return Ok(None);
        };
        let outcome = self.render_job(&job, &queue).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            // A passing failure (the store or the database away): try again later, unless the
            // job has had its attempts.
            Err(error) if job.attempts < queue.max_attempts => {
                let reason = format!("{:#}", anyhow::Error::from(error));
                match self
                    .db
                    .retry_rendition(&job, queue.backoff(job.attempts))
                    .await
                {
                    Ok(true) => RenditionOutcome::Retry(reason),
                    Ok(false) => RenditionOutcome::Lost,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(error) => {
                let reason = format!(
                    "gave up after {} attempts: {:#}",
                    job.attempts,
                    anyhow::Error::from(error)
                );
                self.fail_rendition(&job, reason).await?
            }
        };
        Ok(Some((job.sha256, outcome, job.waited)))
    }

    async fn render_job(
        &self,
        job: &RenditionJob,
        queue: &RenditionQueue,
    ) -> Result<RenditionOutcome, Error> {
        if job.attempts > queue.max_attempts {
            // Each claim before ended without an outcome: the worker died on this page (out of
            // memory, killed). It must not take every worker down with it again.
            let reason = format!(
                "gave up after {} attempts that ended without a result",
                job.attempts - 1
            );
            return self.fail_rendition(job, reason).await;
        }
        let limits = self.rendition_limits;
        // Decided before a byte is read: a page over the limit costs no memory at all.
        if let Err(Unrendered::TooLarge(reason)) = limits.admit_page(job.size_bytes) {
            return self.skip_rendition(job, reason).await;
        }
        let source = self.read_whole(job).await?;
        let media_type = job.media_type;
        let rendered = tokio::task::spawn_blocking(move || {
            // A decoder that panics on hostile bytes fails this page, not the worker.
            std::panic::catch_unwind(|| rendering::render_page(source, media_type, &limits))
                .unwrap_or_else(|_| {
                    Err(Unrendered::Undecodable(
                        "the decoder failed on this page".into(),
                    ))
                })
        })
        .await
        .map_err(|error| Error::Unexpected(error.into()))?;
        let (rendered, blank) = match rendered {
            Ok(rendered) => rendered,
            Err(Unrendered::TooLarge(reason)) => return self.skip_rendition(job, reason).await,
            Err(Unrendered::Undecodable(reason)) => {
                tracing::warn!(
                    content = %job.sha256.to_hex(),
                    media_type = media_type.as_mime(),
                    reason = %reason,
                    "a page does not render"
                );
                return self.fail_rendition(job, reason).await;
            }
        };
        for rendition in &rendered {
            self.pages
                .put_rendition(rendition.kind, &job.sha256, rendition.bytes.clone())
                .await?;
        }
        let infos: Vec<RenditionInfo> = rendered.iter().map(RenditionInfo::of).collect();
        if self.db.finish_rendition(job, &infos, blank).await? {
            return Ok(RenditionOutcome::Ready);
        }
        // The job is gone. If its content went too (destroyed while it rendered), so must the
        // objects just written: the deleter may have run before they were.
        if !self.db.content_exists(&job.sha256).await? {
            self.pages.delete_renditions(&job.sha256).await?;
        }
        Ok(RenditionOutcome::Lost)
    }

    /// Reads a job's page into one buffer of the size its record gives (see [`PageBuffer`]).
    /// More bytes than recorded are an error, not a larger buffer.
    async fn read_whole(&self, job: &RenditionJob) -> Result<Vec<u8>, Error> {
        let expected = usize::try_from(job.size_bytes).map_err(|_| {
            Error::Unexpected(anyhow::anyhow!("a page of {} bytes", job.size_bytes))
        })?;
        let mut source = PageBuffer::with_size(expected);
        let mut chunks = self.pages.read(&job.sha256).await?;
        while let Some(chunk) = chunks.try_next().await? {
            if !source.push(&chunk) {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "the stored page {} is longer than its recorded {expected} bytes",
                    job.sha256.to_hex()
                )));
            }
        }
        Ok(source.into_bytes())
    }

    async fn skip_rendition(
        &self,
        job: &RenditionJob,
        reason: String,
    ) -> Result<RenditionOutcome, Error> {
        tracing::info!(
            content = %job.sha256.to_hex(),
            media_type = job.media_type.as_mime(),
            reason = %reason,
            "a page is too large to render"
        );
        Ok(if self.db.skip_rendition(job, &reason).await? {
            RenditionOutcome::Skipped(reason)
        } else {
            RenditionOutcome::Lost
        })
    }

    async fn fail_rendition(
        &self,
        job: &RenditionJob,
        reason: String,
    ) -> Result<RenditionOutcome, Error> {
        Ok(if self.db.fail_rendition(job, &reason).await? {
            RenditionOutcome::Failed(reason)
        } else {
            RenditionOutcome::Lost
        })
    }

    /// Opens a page's rendition once the caller may read the page (the checks of
    /// `open_page`): its metadata as a JPEG page and its bytes.
    pub(super) async fn open_rendition(
        &self,
        name: &PageName,
        page: PageInfo,
        kind: RenditionKind,
    ) -> Result<(PageInfo, PageBytes), Error> {
        let kind_name = kind.as_str();
        match &page.rendition {
            RenditionState::Ready => {}
            RenditionState::Pending => {
                return Err(Error::Unavailable(anyhow::anyhow!(
                    "the {kind_name} of {name} is being made; retry in a few seconds"
                )));
            }
            RenditionState::NotQueued => {
                return Err(Error::FailedPrecondition(format!(
                    "{name} was stored before renditions existed and has no {kind_name} yet: \
                     an operator queues it with `custodian backfill-renditions`"
                )));
            }
            RenditionState::Failed(reason) | RenditionState::Skipped(reason) => {
                return Err(Error::FailedPrecondition(format!(
                    "{name} has no {kind_name}: {reason}; read the original instead"
                )));
            }
        }
        let missing = || {
            Error::Unexpected(anyhow::anyhow!(
                "the {kind_name} of {name} (content {}) is ready but not stored",
                page.sha256.to_hex()
            ))
        };
        let info = self
            .db
            .rendition(&page.sha256, kind)
            .await?
            .ok_or_else(missing)?;
        let bytes = self
            .pages
            .read_rendition(kind, &page.sha256, None)
            .await
            .map_err(|error| match error {
                crate::storage::StorageError::NotFound(_) => missing(),
                other => other.into(),
            })?
            .map_err(Error::from);
        let described = PageInfo {
            number: page.number,
            media_type: kind.media_type(),
            size_bytes: info.size_bytes,
            sha256: info.sha256,
            rendition: RenditionState::Ready,
            // A rendition shows the page; its check is the page's.
            scan: page.scan,
        };
        Ok((described, Box::pin(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let queue = RenditionQueue::default();
        assert_eq!(queue.backoff(1), Duration::from_secs(10));
        assert_eq!(queue.backoff(2), Duration::from_secs(20));
        assert_eq!(queue.backoff(4), Duration::from_secs(80));
        assert_eq!(queue.backoff(30), Duration::from_secs(3600));
    }
}
