//! The archive's things and rules: customers and their history, documents and their versions,
//! pages, the type catalog, completeness rules, retention, legal holds and disposal, lending and
//! the custody of paper originals, who may do what, and the audit trail.
//!
//! Types here are parsed at the edge and valid by construction. Use cases are methods of
//! [`Archive`]; each takes the acting caller, checks it against the policy and leaves one audit
//! event. They reach PostgreSQL and the object store only through `storage`, whose interface
//! speaks these types.

mod access;
mod audit;

mod catalog;
mod clock;
mod completeness;
mod customers;
mod documents;
mod error;
mod finding;
mod lending;
mod names;
mod paging;
mod paper;
mod records;
mod scan_quality;

use std::future::Future;
use std::sync::{Arc, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use access::*;
pub use audit::*;

pub use catalog::*;
pub use clock::{Clock, ManualClock, SystemClock};
pub use completeness::*;
pub use customers::*;
pub use documents::*;
pub use error::Error;
pub use finding::*;
pub use lending::*;
pub use names::{
    DestructionListName, DocumentName, LegalHoldName, LoanName, PageName, customer_name,
    parse_customer_name,
};
pub use paging::{Cursor, Page, PageRequest};
pub use paper::*;
pub use records::*;
pub use scan_quality::*;

use crate::storage::{AuditCheckpoints, AuditLog, Database, PageStore};

/// The archive service: every use case of the API, over the two stores.
#[derive(Clone)]
pub struct Archive {
    db: Database,
    pages: PageStore,
    limits: FilingLimits,
    policy: Arc<RwLock<Arc<Policy>>>,
    audit: AuditLog,
    checkpoints: AuditCheckpoints,
    clock: Arc<dyn Clock>,
    /// The memory every filing together may hold; see [`Archive::with_filing_buffer`].
    filing_buffer: FilingBuffer,
    /// The places for heavy calls; see [`Archive::with_heavy_work_limit`].
    heavy_work: Arc<Semaphore>,
    heavy_work_limit: usize,
    /// Who signs page links, if this deployment issues them; see [`Archive::with_page_links`].
    page_links: Option<PageLinks>,
    /// How the rendition workers use their queue; see [`Archive::with_rendition_queue`].
    rendition_queue: RenditionQueue,
    /// What bounds a rendition's memory; see [`Archive::with_rendition_limits`].
    rendition_limits: RenditionLimits,
    /// Wakes this replica's rendition workers when a filing has queued pages.
    renditions_queued: Arc<tokio::sync::Notify>,
}

/// The page bytes every filing together may buffer unless configured otherwise.
const DEFAULT_FILING_BUFFER_BYTES: u64 = 384 * 1024 * 1024;

/// Heavy calls that may run at once unless configured otherwise.
const DEFAULT_HEAVY_WORK: usize = 4;

impl Archive {
    pub fn new(
        db: Database,
        pages: PageStore,
        limits: FilingLimits,
        policy: Policy,
        audit: AuditLog,
        checkpoints: AuditCheckpoints,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            pages,
            limits,
            policy: Arc::new(RwLock::new(Arc::new(policy))),
            audit,
            checkpoints,
            clock,
            filing_buffer: FilingBuffer::new(DEFAULT_FILING_BUFFER_BYTES),
            heavy_work: Arc::new(Semaphore::new(DEFAULT_HEAVY_WORK)),
            heavy_work_limit: DEFAULT_HEAVY_WORK,
            page_links: None,
            rendition_queue: RenditionQueue::default(),
            rendition_limits: RenditionLimits::default(),
            renditions_queued: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Issues page links (SignPageUrls) signed by `links.signer`.
    pub fn with_page_links(mut self, links: PageLinks) -> Self {
        self.page_links = Some(links);
        self
    }

    /// Sets the rendition workers' lease, attempts and retry delay.
    pub fn with_rendition_queue(mut self, queue: RenditionQueue) -> Self {
        self.rendition_queue = queue;
        self
    }

    /// Sets the largest page the rendition workers read and the largest image they decode.
    pub fn with_rendition_limits(mut self, limits: RenditionLimits) -> Self {
        self.rendition_limits = limits;
        self
    }

    /// Resolves when a filing or correction of this replica has queued renditions (the
    /// workers also poll, for those of other replicas).
    pub async fn renditions_queued(&self) {
        self.renditions_queued.notified().await;
    }

    /// Wakes the rendition workers waiting for work.
    fn wake_rendition_workers(&self) {
        self.renditions_queued.notify_waiters();
    }

    /// Lets every filing and correction together buffer at most `bytes` of pages in memory.
    pub fn with_filing_buffer(mut self, bytes: u64) -> Self {
        self.filing_buffer = FilingBuffer::new(bytes);
        self
    }

    /// Lets at most `limit` heavy calls (reports, chain verifications) run at once; 0 lets
    /// none run.
    pub fn with_heavy_work_limit(mut self, limit: usize) -> Self {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        self.heavy_work = Arc::new(Semaphore::new(limit));
        self.heavy_work_limit = limit;
        self
    }

    /// A place among the heavy calls running, or RESOURCE_EXHAUSTED at once: a report scans
    /// thousands of archives, and a few at a time must not take the database pool from the
    /// counter's calls.
    fn heavy_work_place(&self) -> Result<OwnedSemaphorePermit, Error> {
        Arc::clone(&self.heavy_work)
            .try_acquire_owned()
            .map_err(|_| {
                Error::ResourceExhausted(format!(
                    "{} reports or chain verifications are running, the most at once; retry \
                     when one has finished",
                    self.heavy_work_limit
                ))
            })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(policy) => Arc::clone(&policy),
            // A writer panicked mid-swap; the Arc it guards is still whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts a new policy in force for the calls that start from now on.
    pub fn replace_policy(&self, policy: Policy) {
        let policy = Arc::new(policy);
        match self.policy.write() {
            Ok(mut current) => *current = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    /// Records a call refused before it reached a use case (no valid token), without waiting:
    /// the refusing layer cannot. Refusals of one kind from one peer are coalesced (see
    /// [`RefusalWindow`]).
    pub fn record_refusal(&self, refusal: Refusal) {
        self.audit.record_refusal(refusal);
    }

    /// Records a call that failed where its use case could not record it: before it could start
    /// (its request did not parse, its stream stalled before the header) or after it had
    /// answered (its caller stopped reading the reply), so that it too leaves its event.
    pub async fn record_failed_call(&self, actor: &Actor, action: &str, error: &Error) {
        let event = AuditEvent::new(actor, action, Resource::named("-"), error.code_name())
            .with_details(serde_json::json!({ "reason": error.to_string() }));
        self.audit.record(event).await;
    }

    /// Now, by the archive's clock: where a loan stands is told by it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// How long a filing's stream may stay silent, its header included.
    pub fn filing_idle_timeout(&self) -> std::time::Duration {
        self.limits.idle_timeout
    }

    /// Succeeds when both stores answer and the audit trail can be written; the health
    /// service reports SERVING only then.
    pub async fn ping(&self) -> Result<(), Error> {
        let (database, objects) = tokio::join!(self.db.ping(), self.pages.ping());
        database?;
        objects?;
        self.audit.writable()?;
        Ok(())
    }

    /// Runs a use case that changes nothing and records its outcome.
    async fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        resource: Resource,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        record_on_span(&resource);
        let result = work.await;
        let event = AuditEvent::new(actor, action, resource, outcome_of(&result));
        self.audit.record(event).await;
        result
    }

    /// Runs a use case that changes nothing and records its outcome with the details `work`
    /// returns beside its result (a read under a loan names the loan).
    async fn audited_read<T>(
        &self,
        actor: &Actor,
        action: &str,
        resource: Resource,
        work: impl Future<Output = Result<(T, Option<serde_json::Value>), Error>>,
    ) -> Result<T, Error> {
        record_on_span(&resource);
        let result = work.await;
        let mut event = AuditEvent::new(actor, action, resource, outcome_of(&result));
        let result = result.map(|(value, details)| {
            if let Some(details) = details {
                event = event.clone().with_details(details);
            }
            value
        });
        self.audit.record(event).await;
        result
    }

    /// Runs a use case that changes nothing and records its outcome with `details` (a
    /// search's filters, personal values already masked).
    async fn audited_with<T>(
        &self,
        actor: &Actor,
        action: &str,
        resource: Resource,
        details: serde_json::Value,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        record_on_span(&resource);
        let result = work.await;
        let event =
            AuditEvent::new(actor, action, resource, outcome_of(&result)).with_details(details);
        self.audit.record(event).await;
        result
    }

    /// Runs a change. `work` gets the success event to commit with the change; if the change
    /// fails, the failure is recorded instead.
    async fn audited_change<T, F, Fut>(
        &self,
        actor: &Actor,
        action: &str,
        resource: Resource,
        work: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(AuditEvent) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        record_on_span(&resource);
        let success = AuditEvent::new(actor, action, resource.clone(), "ok");
        let result = work(success).await;
        if let Err(error) = &result {
            let event = AuditEvent::new(actor, action, resource, error.code_name());
            self.audit.record(event).await;
        }
        result
    }
}

/// Puts the ids a call touches on its RPC span (ids only: never names or other personal data).
fn record_on_span(resource: &Resource) {
    let span = tracing::Span::current();
    if let Some(account) = &resource.account {
        span.record("custodian.account", account.as_str());
    }
    if let Some(document) = resource.document_id {
        span.record("custodian.document", tracing::field::display(document));
    }
}
