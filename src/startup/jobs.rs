//! The server's background jobs: the sweep that finishes disposals' page deletions, the
//! backfill of the identifier blind index, the collector of orphan page objects, the fixity
//! scrub, the rendition workers, and the policy reload on SIGHUP.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::load_policy;
use crate::domain::{Archive, AuditCheckpointer, FixityOutcome, RenditionOutcome};
use crate::settings::{FixitySettings, OrphanSettings};
use crate::storage::Database;

/// How often queued page deletions of disposals are retried after the one at start.
const DESTRUCTION_SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// Deletes the page objects disposals committed but could not delete yet (a crash right after
/// the approval, the store down): at start, then every few minutes until the server stops.
pub(super) async fn finish_destructions(archive: Archive, mut stopping: watch::Receiver<bool>) {
    let mut sweep = tokio::time::interval(DESTRUCTION_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = sweep.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        match archive.delete_destroyed_contents().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted page objects of earlier disposals"),
            Err(error) => {
                tracing::warn!(error = %error, "page objects of earlier disposals not deleted yet")
            }
        }
    }
}

/// How long the identifier backfill waits after a failure before it tries again.
const IDENTIFIER_BACKFILL_RETRY: Duration = Duration::from_secs(30);

/// Digests, at start, the ID numbers and phones the blind index does not have under the key
/// in force (rows from before it existed, or from a time without a key, or under another
/// key): a migration cannot, it has no key. Runs in batches until none is left.
pub(super) async fn index_identifiers(database: Database, mut stopping: watch::Receiver<bool>) {
    if database.identifier_key().is_none() {
        tracing::warn!(
            "auth.identifier_key is not set: ID numbers and phones are not indexed, and \
             searching by them is refused"
        );
        return;
    }
    let mut digested = 0;
    loop {
        let batch = tokio::select! {
            batch = database.backfill_identifier_digests() => batch,
            _ = stopping.wait_for(|stopping| *stopping) => return,
        };
        match batch {
            Ok(0) => break,
            Ok(n) => digested += n,
            Err(error) => {
                tracing::warn!(error = %error, "identifier backfill failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(IDENTIFIER_BACKFILL_RETRY) => {}
                    _ = stopping.wait_for(|stopping| *stopping) => return,
                }
            }
        }
    }
    if digested > 0 {
        tracing::info!(
            revisions = digested,
            "blind index of ID numbers and phones backfilled"
        );
    }
}

/// Writes a signed checkpoint of the audit chain's head at start and every `interval` while
/// the head moves, until the server stops (`App::run` writes a last one after the audit queue
/// is drained).
pub(super) async fn checkpoint_audit_chain(
    checkpointer: AuditCheckpointer,
    interval: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        match checkpointer.checkpoint().await {
            Ok(written) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("audit chain checkpoints are written again");
                }
                if let Some(checkpoint) = written {
                    tracing::debug!(seq = checkpoint.seq, "audit chain checkpointed");
                }
            }
            Err(error) => {
                let error = format!("{:#}", anyhow::Error::from(error));
                if !std::mem::replace(&mut failing, true) {
                    tracing::error!(error, "cannot checkpoint the audit chain");
                } else {
                    tracing::debug!(error, "still cannot checkpoint the audit chain");
                }
            }
        }
    }
}

/// How often a replica asks whether the orphan collection is due (one replica runs it per
/// interval).
const UPKEEP_CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// Removes the page objects failed filings left, and stale `staging/` uploads, once per
/// `orphans.sweep_interval_secs` across the replicas, until the server stops.
pub(super) async fn collect_orphans(
    archive: Archive,
    settings: OrphanSettings,
    mut stopping: watch::Receiver<bool>,
) {
    let Some(interval) = settings.sweep_interval() else {
        return;
    };
    let mut check = tokio::time::interval(interval.min(UPKEEP_CHECK_INTERVAL));
    loop {
        tokio::select! {
            _ = check.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        match archive.claim_upkeep_run("collect_orphans", interval).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(error = %error, "cannot tell whether the orphan collection is due");
                continue;
            }
        }
        match archive.collect_orphans(settings.grace_period()).await {
            Ok(collected) => {
                crate::metrics::orphans_removed(
                    collected.orphan_pages as u64,
                    collected.staging_objects as u64,
                );
                tracing::info!(
                    orphan_pages = collected.orphan_pages,
                    deleted_pages = collected.deleted_pages,
                    staging_objects = collected.staging_objects,
                    "collected orphan page objects"
                );
            }
            Err(error) => tracing::warn!(error = %error, "orphan page objects not collected"),
        }
    }
}

/// How often the fixity scrub checks its share of pages.
const SCRUB_INTERVAL: Duration = Duration::from_secs(60);

/// Re-reads `fixity.pages_per_minute` stored pages every minute and reports any whose bytes no
/// longer hash to their address, or that are missing, until the server stops.
pub(super) async fn scrub_pages(
    archive: Archive,
    settings: FixitySettings,
    mut stopping: watch::Receiver<bool>,
) {
    if settings.pages_per_minute == 0 {
        return;
    }
    let mut scrub = tokio::time::interval(SCRUB_INTERVAL);
    loop {
        tokio::select! {
            _ = scrub.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        match archive.scrub_pages(settings.pages_per_minute).await {
            Ok(scrubbed) => {
                for (sha256, outcome) in &scrubbed.checked {
                    crate::metrics::fixity_checked(outcome.as_str());
                    if *outcome != FixityOutcome::Intact {
                        tracing::error!(
                            content = %sha256.to_hex(),
                            outcome = outcome.as_str(),
                            failure = outcome.failure().unwrap_or_default(),
                            "a stored page failed its fixity check"
                        );
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error, "fixity scrub failed"),
        }
    }
}

/// One rendition worker: renders queued pages one after another, and when none is due waits
/// for this replica's next filing or `poll_interval`, until the server stops. A job under way
/// when the server stops is finished if the process lives long enough; if not, it is claimed
/// again once its lease ends.
pub(super) async fn render_pages(
    archive: Archive,
    poll_interval: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        if *stopping.borrow() {
            return;
        }
        // Not cut off by the stop: a job given up half-way would wait out its lease before
        // another worker could take it, and one job takes a second or two.
        let rendered = archive.render_next().await;
        let idle = match rendered {
            Ok(Some((content, outcome, waited))) => {
                failing = false;
                if outcome != RenditionOutcome::Lost {
                    crate::metrics::rendition_finished(outcome.as_str());
                }
                if outcome == RenditionOutcome::Ready {
                    crate::metrics::rendition_delay(waited.as_secs_f64());
                }
                tracing::debug!(content = %content.to_hex(), outcome = outcome.as_str(), "rendition job ended");
                false
            }
            Ok(None) => {
                failing = false;
                true
            }
            Err(error) => {
                let error = format!("{:#}", anyhow::Error::from(error));
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error, "cannot take rendition jobs");
                }
                true
            }
        };
        if idle {
            tokio::select! {
                _ = archive.renditions_queued() => {}
                _ = tokio::time::sleep(poll_interval) => {}
                _ = stopping.wait_for(|stopping| *stopping) => return,
            }
        }
    }
}

/// Re-reads the policy on SIGHUP; a policy that does not parse leaves the old one in force.
pub(super) async fn reload_policy_on_hangup(archive: Archive, path: PathBuf) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the policy will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match load_policy(&path) {
                Ok(policy) => {
                    archive.replace_policy(policy);
                    tracing::info!(path = %path.display(), "policy reloaded");
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), "policy not reloaded"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (archive, path);
}
