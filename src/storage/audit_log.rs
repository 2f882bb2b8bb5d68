//! Recording audit events of calls that change nothing (reads, refusals, failures) without
//! slowing the call: events queue in memory and a writer appends them in batches.
//!
//! A normal shutdown drains the queue before the server exits. A crash loses the events still
//! queued: normally a few milliseconds' worth of reads (the writer gathers events for 5 ms
//! before each append), and the unauthenticated refusals of the last second. Changes are never
//! affected: their events commit in the change's own transaction.
//!
//! Two kinds of failure are told apart. When the database is down (or refuses every insert for
//! reasons of its own: privileges, a trigger, a full disk) the writer keeps the events and
//! retries, and [`AuditLog::writable`] fails, which turns health NOT_SERVING. When the database
//! refuses the *values* of one event (see [`StorageError::rejects_data`]), the batch is split
//! in halves until that event stands alone, the others are written, and the event is written
//! in a quarantined form, or as a placeholder if even that is refused: one bad event never
//! stops the trail and is never dropped.
//!
//! Unauthenticated refusals do not queue here: they are counted into a [`RefusalWindow`] that
//! the writer turns into one event per kind and peer each second, so a flood of them neither
//! fills the queue authenticated calls wait on nor grows memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Database, StorageError};
use crate::domain::{AuditEvent, Refusal, RefusalWindow};

/// Events waiting beyond this make callers wait for the writer (back-pressure, not loss).
const QUEUE_CAPACITY: usize = 10_000;
/// The most events appended in one transaction.
const BATCH: usize = 1_000;
/// How long the writer lets events gather after the first one, so a busy server appends them
/// in a few large transactions rather than many small ones.
const LINGER: Duration = Duration::from_millis(5);
/// Pause after a failed append before retrying with the same events.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Refusals of one kind from one peer within this long become one event.
const REFUSAL_WINDOW: Duration = Duration::from_secs(1);
/// How often the writer looks for refusal windows that have passed.
const REFUSAL_TICK: Duration = Duration::from_millis(250);

/// The sending side: cheap to clone, one per service.
#[derive(Clone, Debug)]
pub struct AuditLog {
    sender: mpsc::Sender<AuditEvent>,
    refusals: Arc<Mutex<RefusalWindow>>,
    state: Arc<WriterState>,
}

/// What the writer last found.
#[derive(Debug, Default)]
struct WriterState {
    /// Its last append failed for a reason other than one event's values.
    failing: AtomicBool,
}

impl AuditLog {
    /// Starts the writer. It ends once every `AuditLog` clone is dropped and the queue is empty.
    pub fn start(db: Database) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let log = Self {
            sender,
            refusals: Arc::default(),
            state: Arc::default(),
        };
        let writer = Writer {
            db,
            state: Arc::clone(&log.state),
        };
        let refusals = Arc::clone(&log.refusals);
        (log, tokio::spawn(writer.run(receiver, refusals)))
    }

    /// An audit log that drops every event: only for measuring what auditing costs.
    #[cfg(feature = "bench-bypass")]
    pub fn discarding() -> Self {
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(async move { while receiver.recv().await.is_some() {} });
        Self {
            sender,
            refusals: Arc::default(),
            state: Arc::default(),
        }
    }

    /// Queues an event, waiting only if the queue is full.
    pub async fn record(&self, event: AuditEvent) {
        // Bounded before queuing, so the queue's memory is bounded too.
        if self.sender.send(event.bounded()).await.is_err() {
            tracing::error!("the audit writer has stopped; an audit event was lost");
        }
    }

    /// Counts in a call refused for want of credentials, from code that cannot wait (the
    /// authentication layer). Never waits and never takes a place in the queue.
    pub fn record_refusal(&self, refusal: Refusal) {
        lock(&self.refusals).add(refusal);
    }

    /// Fails while the trail cannot be written: the writer's last append failed for a reason
    /// other than one event's values (it keeps retrying), or the writer has stopped.
    pub fn writable(&self) -> Result<(), StorageError> {
        if self.sender.is_closed() {
            return Err(StorageError::Unavailable(anyhow::anyhow!(
                "the audit writer has stopped"
            )));
        }
        if self.state.failing.load(Ordering::Relaxed) {
            return Err(StorageError::Unavailable(anyhow::anyhow!(
                "the audit trail cannot be written"
            )));
        }
        Ok(())
    }
}

struct Writer {
    db: Database,
    state: Arc<WriterState>,
}

impl Writer {
    async fn run(
        self,
        mut receiver: mpsc::Receiver<AuditEvent>,
        refusals: Arc<Mutex<RefusalWindow>>,
    ) {
        let window = chrono::Duration::from_std(REFUSAL_WINDOW).unwrap_or_default();
        let mut tick = tokio::time::interval(REFUSAL_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let open = tokio::select! {
                received = receiver.recv_many(&mut batch, BATCH) => received > 0,
                _ = tick.tick() => true,
            };
            if !open {
                break;
            }
            if !batch.is_empty() && batch.len() < BATCH {
                tokio::time::sleep(LINGER).await;
                while batch.len() < BATCH
                    && let Ok(event) = receiver.try_recv()
                {
                    batch.push(event);
                }
            }
            batch.extend(lock(&refusals).take_due(chrono::Utc::now(), window));
            self.store(std::mem::take(&mut batch)).await;
        }
        // Every sender is gone and the queue is empty: the refusals still counting come last.
        let remaining = lock(&refusals).take_all();
        self.store(remaining).await;
        tracing::debug!("audit writer drained");
    }

    /// Appends `events` in order. Keeps them until they are stored: a database outage delays
    /// events, it does not drop them (unless the process dies meanwhile). A batch the database
    /// refuses for its values is halved until the refused event stands alone.
    async fn store(&self, events: Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        // The parts still to write, the next one last.
        let mut parts = vec![events];
        while let Some(mut part) = parts.pop() {
            // How many stricter forms of a lone refused event have been tried.
            let mut fallbacks = 0;
            loop {
                let error = match self.db.append_audit(&part).await {
                    Ok(()) => {
                        self.recovered();
                        break;
                    }
                    Err(error) => error,
                };
                let rejected = error.rejects_data();
                let sqlstate = error.sqlstate();
                let described = format!("{:#}", anyhow::Error::from(error));
                if rejected && part.len() > 1 {
                    let second = part.split_off(part.len() / 2);
                    parts.push(second);
                    parts.push(part);
                    break;
                }
                if rejected && fallbacks < 2 {
                    let why = match sqlstate {
                        Some(code) => format!("the database refused the event (SQLSTATE {code})"),
                        None => "the database driver could not encode the event".into(),
                    };
                    tracing::error!(
                        error = described,
                        action = part[0].action,
                        request_id = part[0].request_id,
                        "the database refuses an audit event; recording it in a stricter form"
                    );
                    part[0] = if fallbacks == 0 {
                        part[0].quarantined(&why)
                    } else {
                        part[0].placeholder(&why)
                    };
                    fallbacks += 1;
                    continue;
                }
                // The database is down, or refuses even the placeholder: not this event's
                // fault. Keep it and retry.
                if !self.state.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        error = described,
                        events = part.len(),
                        "cannot append audit events; retrying until the trail can be written"
                    );
                } else {
                    tracing::debug!(error = described, "still cannot append audit events");
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }

    fn recovered(&self) {
        if self.state.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("the audit trail is written again");
        }
    }
}

/// The refusals counting, even if a thread panicked holding them (they stay consistent: every
/// change is one insert or one increment).
fn lock(refusals: &Mutex<RefusalWindow>) -> std::sync::MutexGuard<'_, RefusalWindow> {
    refusals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
