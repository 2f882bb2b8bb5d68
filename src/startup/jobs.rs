//! The server's background jobs: the sweep that finishes disposals' page deletions, and the
//! policy reload on SIGHUP.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::load_policy;
use crate::domain::{Archive, AuditCheckpointer};

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
