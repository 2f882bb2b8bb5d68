//! The scan quality report over an org unit's subtree and a filing period: the documents whose
//! current version has pages with warnings (the ones to rescan), read in keyset batches as the
//! caller consumes the stream, then the totals. A heavy call, like the completeness report.

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::rules::ScanWarningDocument;
use crate::domain::Resource;
use crate::domain::{Actor, Archive, DocumentTypeCode, Error, OrgUnitCode, Permission, Reach};
use crate::storage::Database;

/// How many documents with warnings the report reads per query.
const REPORT_BATCH: usize = 500;

/// What the report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReportRequest {
    pub org_unit: OrgUnitCode,
    /// Filed at or after.
    pub filed_after: Option<DateTime<Utc>>,
    /// Filed before.
    pub filed_before: Option<DateTime<Utc>>,
}

/// The report's totals, sent last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReportSummary {
    /// The unit reported on (the caller's own when it asked for one above it).
    pub org_unit: OrgUnitCode,
    pub documents: u64,
    pub pages: u64,
}

/// One message of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanReportItem {
    Document(ScanWarningDocument),
    /// The last message.
    Summary(ScanReportSummary),
}

pub type ScanQualityReport = BoxStream<'static, Result<ScanReportItem, Error>>;

impl Archive {
    /// Streams the documents of `request.org_unit`'s subtree filed in the period whose current
    /// version has pages with scan warnings, in document order, then the totals. Only document
    /// types the caller sees are listed. An org-scoped caller asking for a unit above its own
    /// gets its own unit's report; one asking for a unit elsewhere is refused.
    pub async fn scan_quality_report(
        &self,
        actor: &Actor,
        request: ScanReportRequest,
    ) -> Result<ScanQualityReport, Error> {
        let resource = Resource::named(format!(
            "customers/-/documents/-/scanQuality?org_unit={}&after={}&before={}",
            request.org_unit.as_str(),
            request
                .filed_after
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            request
                .filed_before
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        ));
        self.audited(actor, "StreamScanQualityReport", resource, async {
            if let (Some(after), Some(before)) = (request.filed_after, request.filed_before)
                && after >= before
            {
                return Err(Error::invalid(
                    "filed_before",
                    "must be later than filed_after",
                ));
            }
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            grant.require(Permission::RunReports)?;
            let unit = match grant.reach() {
                Reach::All => request.org_unit.clone(),
                Reach::OrgUnit(scope) if request.org_unit.is_within(scope) => {
                    request.org_unit.clone()
                }
                Reach::OrgUnit(scope) if scope.is_within(&request.org_unit) => scope.clone(),
                Reach::OrgUnit(scope) => {
                    return Err(Error::PermissionDenied(format!(
                        "org unit {} is outside your scope {}",
                        request.org_unit.as_str(),
                        scope.as_str()
                    )));
                }
                Reach::Account(_) => {
                    return Err(Error::PermissionDenied(
                        "the scan quality report covers org units; an account's pages show their scan_check in GetDocument".into(),
                    ));
                }
            };
            let place = self.heavy_work_place()?;
            let types: Vec<DocumentTypeCode> = self
                .db
                .document_types()
                .await?
                .into_iter()
                .filter(|t| grant.sees(&t.code, t.confidentiality))
                .map(|t| t.code)
                .collect();
            let scope = ScanReportScope {
                unit,
                types,
                filed_after: request.filed_after,
                filed_before: request.filed_before,
            };
            Ok(report_stream(self.db.clone(), scope, place))
        })
        .await
    }
}

/// What one batch query selects.
#[derive(Debug, Clone)]
pub struct ScanReportScope {
    pub unit: OrgUnitCode,
    /// The document types the caller sees.
    pub types: Vec<DocumentTypeCode>,
    pub filed_after: Option<DateTime<Utc>>,
    pub filed_before: Option<DateTime<Utc>>,
}

/// Reads the documents batch by batch as the stream is polled, then sends the totals. The
/// place among the heavy calls is given back with the stream's state.
fn report_stream(
    db: Database,
    scope: ScanReportScope,
    place: OwnedSemaphorePermit,
) -> ScanQualityReport {
    struct State {
        db: Database,
        scope: ScanReportScope,
        after: Option<Uuid>,
        more: bool,
        summary: ScanReportSummary,
        done: bool,
        _place: OwnedSemaphorePermit,
    }
    let start = State {
        summary: ScanReportSummary {
            org_unit: scope.unit.clone(),
            documents: 0,
            pages: 0,
        },
        db,
        scope,
        after: None,
        more: true,
        done: false,
        _place: place,
    };
    stream::try_unfold(start, |mut state| async move {
        if state.done {
            return Ok(None);
        }
        if !state.more {
            state.done = true;
            let summary = ScanReportItem::Summary(state.summary.clone());
            return Ok(Some((vec![summary], state)));
        }
        let batch = state
            .db
            .scan_warning_batch(&state.scope, state.after, REPORT_BATCH)
            .await?;
        state.more = batch.len() == REPORT_BATCH;
        state.after = batch.last().map(|d| d.document_id).or(state.after);
        state.summary.documents += batch.len() as u64;
        state.summary.pages += batch.iter().map(|d| d.pages.len() as u64).sum::<u64>();
        let items = batch.into_iter().map(ScanReportItem::Document).collect();
        Ok::<_, Error>(Some((items, state)))
    })
    .map_ok(|items: Vec<ScanReportItem>| stream::iter(items.into_iter().map(Ok::<_, Error>)))
    .try_flatten()
    .boxed()
}
