//! The `renditions` section: the workers that make thumbnails and previews.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::{RenditionLimits, RenditionQueue};

/// The rendition workers: thumbnails and previews made from the queue, off the filing path.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct RenditionSettings {
    /// Pages this replica renders at once, each on a blocking thread: the CPU renditions may
    /// take. `0` makes none here (filings still queue them, for other replicas).
    pub workers: usize,
    /// How often an idle worker looks for jobs other replicas queued (this replica's own
    /// filings wake it at once), in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a claimed job stays a worker's: one that dies leaves it for another after this.
    pub lease_secs: u64,
    /// Claims after which a job is failed for good.
    pub max_attempts: u32,
    /// The delay before retrying a passing failure (the store away); it doubles each time.
    pub retry_after_secs: u64,
    /// Pages larger than this get no renditions (skipped, never read): what one worker's page
    /// buffer may take.
    pub max_page_bytes: u64,
    /// Images whose header claims more pixels than this get no renditions (skipped, never
    /// decoded).
    pub max_pixels: u64,
}

impl Default for RenditionSettings {
    fn default() -> Self {
        let queue = RenditionQueue::default();
        let limits = RenditionLimits::default();
        Self {
            workers: 1,
            poll_interval_ms: 1000,
            lease_secs: queue.lease.as_secs(),
            max_attempts: queue.max_attempts,
            retry_after_secs: queue.retry_after.as_secs(),
            max_page_bytes: limits.max_page_bytes,
            max_pixels: limits.max_pixels,
        }
    }
}

impl RenditionSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(1))
    }

    /// How the workers use the queue.
    pub fn queue(&self) -> RenditionQueue {
        RenditionQueue {
            lease: Duration::from_secs(self.lease_secs.max(1)),
            max_attempts: self.max_attempts.max(1),
            retry_after: Duration::from_secs(self.retry_after_secs),
        }
    }

    /// The largest page and image the workers render.
    pub fn limits(&self) -> RenditionLimits {
        RenditionLimits {
            max_page_bytes: self.max_page_bytes,
            max_pixels: self.max_pixels,
        }
    }
}
