//! Recording audit events of calls that change nothing (reads, refusals, failures) without
//! slowing the call: events queue in memory and a writer appends them in batches.
//!
//! A normal shutdown drains the queue before the server exits. A crash loses the events still
//! queued: normally a few milliseconds' worth of reads (the writer gathers events for 5 ms
//! before each append). Changes are never affected: their events commit in the change's own
//! transaction.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Database;
use crate::domain::AuditEvent;

/// Events waiting beyond this make callers wait for the writer (back-pressure, not loss).
const QUEUE_CAPACITY: usize = 10_000;
/// The most events appended in one transaction.
const BATCH: usize = 1_000;
/// How long the writer lets events gather after the first one, so a busy server appends them
/// in a few large transactions rather than many small ones.
const LINGER: Duration = Duration::from_millis(5);
/// Pause after a failed append before retrying with the same events.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The sending side: cheap to clone, one per service.
#[derive(Clone, Debug)]
pub struct AuditLog {
    sender: mpsc::Sender<AuditEvent>,
}

impl AuditLog {
    /// Starts the writer. It ends once every `AuditLog` clone is dropped and the queue is empty.
    pub fn start(db: Database) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        (Self { sender }, tokio::spawn(write_batches(db, receiver)))
    }

    /// An audit log that drops every event: only for measuring what auditing costs.
    #[cfg(feature = "bench-bypass")]
    pub fn discarding() -> Self {
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(async move { while receiver.recv().await.is_some() {} });
        Self { sender }
    }

    /// Queues an event, waiting only if the queue is full.
    pub async fn record(&self, event: AuditEvent) {
        if self.sender.send(event).await.is_err() {
            tracing::error!("the audit writer has stopped; an audit event was lost");
        }
    }

    /// Queues an event from code that cannot wait (the authentication layer).
    pub fn record_now(&self, event: AuditEvent) {
        if let Err(error) = self.sender.try_send(event) {
            tracing::error!(%error, "the audit queue refused an event");
        }
    }
}

async fn write_batches(db: Database, mut receiver: mpsc::Receiver<AuditEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH
                && let Ok(event) = receiver.try_recv()
            {
                batch.push(event);
            }
        }
        // Keep the batch until it is stored: a database outage delays events, it does not
        // drop them (unless the process dies meanwhile).
        while let Err(error) = db.append_audit(&batch).await {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::from(error)),
                events = batch.len(),
                "cannot append audit events; retrying"
            );
            tokio::time::sleep(RETRY_AFTER).await;
        }
        batch.clear();
    }
    tracing::debug!("audit writer drained");
}
