//! Collecting orphan page objects: objects that filings wrote and then did not commit (a
//! refused page, a dropped connection, a crash), which no page row refers to and neither
//! retention nor disposal would ever remove, and stale `staging/` uploads.
//!
//! Only objects older than a grace period are candidates, so a filing still uploading or
//! committing is not made to fail; what keeps a racing filing safe is not the grace period but
//! the deletion protocol that orphans share with disposals (see
//! `storage::database::orphans`): they are queued in the same outbox, a filing that commits the
//! content meanwhile takes it back, and one whose object was deleted after it began uploading
//! fails and is retried. The ages compare the store's write times with PostgreSQL's clock; the
//! grace period (a day by default) dwarfs any skew between them.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt as _;

use crate::domain::{Archive, Error};

/// Listed contents checked against the database at once.
const BATCH: usize = 500;

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrphanCollection {
    /// Page objects past the grace period that no page row refers to, queued for deletion.
    pub orphan_pages: usize,
    /// Page objects deleted by the sweep that followed: the orphans, unless a filing took one
    /// back meanwhile, and any disposal's deletions still owed.
    pub deleted_pages: usize,
    /// `staging/` objects past the grace period, deleted.
    pub staging_objects: usize,
}

impl Archive {
    /// Whether this replica should run the upkeep `job` now: the first replica to ask once
    /// `interval` has passed since any replica last started it.
    pub async fn claim_upkeep_run(&self, job: &str, interval: Duration) -> Result<bool, Error> {
        Ok(self.db.claim_upkeep_run(job, interval).await?)
    }

    /// Finds the page objects and `staging/` objects older than `grace` that nothing refers
    /// to, and deletes them.
    pub async fn collect_orphans(&self, grace: Duration) -> Result<OrphanCollection, Error> {
        let began = self.db.clock_now().await?;
        let cutoff = TimeDelta::from_std(grace)
            .ok()
            .and_then(|grace| began.checked_sub_signed(grace))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut collection = OrphanCollection::default();

        let mut contents = self.pages.list_contents();
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(listed) = contents.next().await {
            let (sha256, written) = listed?;
            if written <= cutoff {
                batch.push(sha256);
            }
            if batch.len() == BATCH {
                collection.orphan_pages += self.db.queue_orphan_contents(&batch, began).await?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            collection.orphan_pages += self.db.queue_orphan_contents(&batch, began).await?;
        }
        collection.deleted_pages = self.delete_destroyed_contents().await?;

        // A staging object is never referred to: its filing copies it to its content key and
        // deletes it within the call. One past the grace period belongs to a filing long gone
        // (and were one still copying it, that filing would fail, not commit).
        let mut staging = self.pages.list_staging();
        while let Some(listed) = staging.next().await {
            let (key, written) = listed?;
            if written <= cutoff {
                self.pages.delete_staging(&key).await?;
                collection.staging_objects += 1;
            }
        }
        Ok(collection)
    }
}
