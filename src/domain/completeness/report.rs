//! The completeness report over an org unit's subtree: every archive evaluated against one rule
//! set, read in keyset batches of accounts as the caller consumes the stream, the incomplete
//! ones sent with what they lack, then the totals.

use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OwnedSemaphorePermit;

use super::evaluation::{Case, Filed, ItemStatus, Narrowing, evaluate};
use super::rules::RuleSet;
use crate::domain::Resource;
use crate::domain::{AccountNumber, Archive, CustomerClass, CustomerStatus, Error, OrgUnitCode};
use crate::domain::{Actor, Permission, Reach};
use crate::storage::Database;

/// How many accounts the report reads per query: large enough that a county of 300,000
/// accounts takes a few hundred round trips, small enough to stream as it goes.
const REPORT_BATCH: usize = 1000;

/// An account of the report, with what its archive holds, counted per case and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAccount {
    pub account: AccountNumber,
    pub org_unit: OrgUnitCode,
    pub customer_class: CustomerClass,
    pub status: CustomerStatus,
    pub filed: Vec<Filed>,
}

/// Where the next batch of the report starts: accounts in (org unit, account number) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCursor {
    pub org_unit: String,
    pub account: String,
}

/// An archive the report found incomplete: its incomplete cases, each with only what it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteArchive {
    pub account: AccountNumber,
    pub org_unit: OrgUnitCode,
    pub customer_class: CustomerClass,
    pub cases: Vec<Case>,
}

/// The report's totals, sent last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// The unit reported on.
    pub org_unit: OrgUnitCode,
    pub archives: u64,
    pub complete_archives: u64,
    pub cases: u64,
    pub incomplete_cases: u64,
}

impl ReportSummary {
    /// The share of complete archives; 1 when there are none (nothing is lacking).
    pub fn completeness_rate(&self) -> f64 {
        if self.archives == 0 {
            1.0
        } else {
            self.complete_archives as f64 / self.archives as f64
        }
    }

    /// Counts one archive in; returns it if it is incomplete.
    fn assess(&mut self, rules: &RuleSet, account: ReportAccount) -> Option<IncompleteArchive> {
        let cases = evaluate(
            rules,
            account.customer_class,
            account.status,
            &account.filed,
            &Narrowing::default(),
        );
        self.archives += 1;
        self.cases += cases.len() as u64;
        let lacking: Vec<Case> = cases
            .into_iter()
            .filter(|case| !case.is_complete())
            .map(|mut case| {
                case.items
                    .retain(|item| item.status() != ItemStatus::Present);
                case
            })
            .collect();
        self.incomplete_cases += lacking.len() as u64;
        if lacking.is_empty() {
            self.complete_archives += 1;
            return None;
        }
        Some(IncompleteArchive {
            account: account.account,
            org_unit: account.org_unit,
            customer_class: account.customer_class,
            cases: lacking,
        })
    }
}

/// One message of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportItem {
    Incomplete(IncompleteArchive),
    /// The last message.
    Summary(ReportSummary),
}

pub type CompletenessReport = BoxStream<'static, Result<ReportItem, Error>>;

impl Archive {
    /// Streams the incomplete archives of `org_unit`'s subtree, in (org unit, account) order,
    /// then the totals. An org-scoped caller asking for a unit above its own gets its own
    /// unit's report; one asking for a unit elsewhere is refused.
    ///
    /// The call is audited once it is authorised and the rules are read; the batches are read
    /// as the caller consumes the stream, all against the same rules.
    pub async fn completeness_report(
        &self,
        actor: &Actor,
        org_unit: &OrgUnitCode,
    ) -> Result<CompletenessReport, Error> {
        let resource = Resource::named(format!(
            "customers/-/completeness?org_unit={}",
            org_unit.as_str()
        ));
        self.audited(actor, "StreamCompletenessReport", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            grant.require(Permission::RunReports)?;
            let unit = match grant.reach() {
                Reach::All => org_unit.clone(),
                Reach::OrgUnit(scope) if org_unit.is_within(scope) => org_unit.clone(),
                Reach::OrgUnit(scope) if scope.is_within(org_unit) => scope.clone(),
                Reach::OrgUnit(scope) => {
                    return Err(Error::PermissionDenied(format!(
                        "org unit {} is outside your scope {}",
                        org_unit.as_str(),
                        scope.as_str()
                    )));
                }
                Reach::Account(_) => {
                    return Err(Error::PermissionDenied(
                        "the completeness report covers org units; a single account's is GetCompleteness".into(),
                    ));
                }
            };
            let place = self.heavy_work_place()?;
            let rules = RuleSet::new(self.db.completeness_rules().await?);
            Ok(report_stream(self.db.clone(), rules, unit, place))
        })
        .await
    }
}

/// Reads the subtree batch by batch as the stream is polled, then sends the totals.
/// The report's place among the heavy calls goes with its state: given back once the last
/// batch is read, or when the caller drops the stream.
fn report_stream(
    db: Database,
    rules: RuleSet,
    unit: OrgUnitCode,
    place: OwnedSemaphorePermit,
) -> CompletenessReport {
    struct State {
        db: Database,
        rules: RuleSet,
        unit: OrgUnitCode,
        after: Option<ReportCursor>,
        summary: ReportSummary,
        done: bool,
        _place: OwnedSemaphorePermit,
    }
    let start = State {
        after: Some(ReportCursor {
            org_unit: unit.as_str().to_owned(),
            account: String::new(),
        }),
        db,
        rules,
        summary: ReportSummary {
            org_unit: unit.clone(),
            archives: 0,
            complete_archives: 0,
            cases: 0,
            incomplete_cases: 0,
        },
        unit,
        done: false,
        _place: place,
    };
    stream::try_unfold(start, |mut state| async move {
        if state.done {
            return Ok(None);
        }
        let Some(after) = state.after.take() else {
            state.done = true;
            let summary = ReportItem::Summary(state.summary.clone());
            return Ok(Some((vec![summary], state)));
        };
        let batch = state
            .db
            .completeness_batch(&state.unit, &after, REPORT_BATCH)
            .await?;
        if batch.len() == REPORT_BATCH {
            state.after = batch.last().map(|last| ReportCursor {
                org_unit: last.org_unit.as_str().to_owned(),
                account: last.account.as_str().to_owned(),
            });
        }
        let incomplete: Vec<ReportItem> = batch
            .into_iter()
            .filter_map(|account| state.summary.assess(&state.rules, account))
            .map(ReportItem::Incomplete)
            .collect();
        Ok::<_, Error>(Some((incomplete, state)))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok::<_, Error>)))
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BusinessProcess::NewConnection;
    use crate::domain::completeness::evaluation::tests::{filed, rules};

    #[test]
    fn the_summary_counts_complete_archives_and_lacking_items_only() {
        let mut summary = ReportSummary {
            org_unit: OrgUnitCode::parse("1201").unwrap(),
            archives: 0,
            complete_archives: 0,
            cases: 0,
            incomplete_cases: 0,
        };
        assert_eq!(summary.completeness_rate(), 1.0);
        let account = |n: &str, filed: Vec<Filed>| ReportAccount {
            account: AccountNumber::parse(n).unwrap(),
            org_unit: OrgUnitCode::parse("1201").unwrap(),
            customer_class: CustomerClass::Residential,
            status: CustomerStatus::Active,
            filed,
        };
        let complete = account(
            "12010001",
            vec![
                filed(NewConnection, "WO-1", "application-form", 1),
                filed(NewConnection, "WO-1", "identity-proof", 2),
            ],
        );
        let lacking = account(
            "12010002",
            vec![filed(NewConnection, "WO-1", "application-form", 1)],
        );
        assert!(summary.assess(&rules(), complete).is_none());
        let incomplete = summary.assess(&rules(), lacking).unwrap();
        assert_eq!(incomplete.cases.len(), 1);
        let lacking_types: Vec<&str> = incomplete.cases[0]
            .items
            .iter()
            .map(|i| i.document_type.as_str())
            .collect();
        assert_eq!(lacking_types, ["identity-proof"]);
        assert_eq!(summary.completeness_rate(), 0.5);
        assert_eq!((summary.cases, summary.incomplete_cases), (2, 1));
    }
}
