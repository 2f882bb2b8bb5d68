//! The loan register (借阅登记): loans by borrower, account, org unit, state and period for the
//! custodians' periodic review, and what was read under each, from the audit trail.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::access::free_text::FreeTextMask;
use crate::domain::names::LoanName;
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::records::retention::acted_by;
use crate::domain::{
    AccountNumber, Actor, Archive, Error, Grant, OrgUnitCode, Permission, PersonalData, Reach,
    Resource, SeqCursor,
};

use super::loan::{Loan, LoanState};

/// Narrows the register; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoanFilter {
    /// `system/person`.
    pub borrower: Option<String>,
    pub account: Option<AccountNumber>,
    /// Loans with an item of an account in this unit or below.
    pub org_unit: Option<OrgUnitCode>,
    /// As of the clock's now.
    pub state: Option<LoanState>,
    /// Loans whose period overlaps `[period_start, period_end)`.
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
}

impl LoanFilter {
    /// Checks the fields against each other.
    pub fn validate(self) -> Result<Self, Error> {
        if let (Some(start), Some(end)) = (self.period_start, self.period_end)
            && start >= end
        {
            return Err(Error::invalid(
                "period_end",
                format!("must be later than period_start ({start})"),
            ));
        }
        Ok(self)
    }

    /// A canonical description of the query, which binds page tokens to it.
    pub fn describe(&self) -> String {
        format!("loans where {self:?}")
    }
}

/// Which loans a caller's register holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoanScope {
    /// A custodian's: the loans whose accounts all lie within this reach.
    Reach(Reach),
    /// A borrower's: their own loans (`system/person`).
    Borrower(String),
}

/// Where the next page of the register starts: newest request first, ties by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanCursor {
    pub request_time: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor for LoanCursor {
    fn encode(&self) -> String {
        format!("{}/{}", self.request_time.timestamp_micros(), self.id)
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('/')?;
        Some(Self {
            request_time: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// One read under a loan, as the audit trail recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanRead {
    pub seq: i64,
    pub time: DateTime<Utc>,
    pub action: String,
    pub resource: String,
    pub outcome: String,
}

impl Archive {
    /// The register: a custodian's (approve-loans) holds the loans within their reach, a
    /// borrower's (request-loans only) their own loans; newest request first.
    pub async fn list_loans(
        &self,
        actor: &Actor,
        filter: &LoanFilter,
        page: PageRequest<LoanCursor>,
    ) -> Result<Page<Loan, LoanCursor>, Error> {
        self.audited(
            actor,
            "ListLoans",
            Resource::named(filter.describe()),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                let scope = if grant.allows(Permission::ApproveLoans) {
                    LoanScope::Reach(grant.reach().clone())
                } else {
                    grant.require(Permission::RequestLoans)?;
                    LoanScope::Borrower(acted_by(actor))
                };
                let loans = self
                    .db
                    .list_loans(
                        &scope,
                        filter,
                        self.clock.now(),
                        page.after.as_ref(),
                        page.size + 1,
                    )
                    .await?;
                let mut page = Page::from_overfetch(loans, page.size, |loan: &Loan| LoanCursor {
                    request_time: loan.request_time,
                    id: loan.id,
                });
                page.items = self.present_loans(&grant, page.items).await?;
                Ok(page)
            },
        )
        .await
    }

    /// What was read under a loan, newest first: for its borrower and the custodians whose
    /// scope covers it.
    pub async fn loan_reads(
        &self,
        actor: &Actor,
        name: LoanName,
        page: PageRequest<SeqCursor>,
    ) -> Result<Page<LoanRead, SeqCursor>, Error> {
        let resource = Resource::named(format!("{name}/reads"));
        self.audited(actor, "ListLoanReads", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            let loan = self.visible_loan(&grant, name).await?;
            let events = self
                .db
                .loan_reads(
                    &loan.borrower.person,
                    name,
                    page.after.map(|cursor| cursor.0),
                    page.size + 1,
                )
                .await?;
            let reads = events
                .into_iter()
                // The person index found them; the system is the borrower's too.
                .filter(|event| {
                    format!("{}/{}", event.event.system, event.event.person)
                        == loan.borrower.acted_by
                })
                .map(|event| LoanRead {
                    seq: event.seq,
                    time: event.event.occurred_at,
                    action: event.event.action,
                    resource: event.event.resource.name,
                    outcome: event.event.outcome,
                })
                .collect();
            Ok(Page::from_overfetch(reads, page.size, |read: &LoanRead| {
                SeqCursor(read.seq)
            }))
        })
        .await
    }

    /// Loans as the grant may read them: for a role that sees personal data masked, the free
    /// text (purpose, notes) is masked with the holders of the loan's accounts.
    pub(crate) async fn present_loans(
        &self,
        grant: &Grant<'_>,
        loans: Vec<Loan>,
    ) -> Result<Vec<Loan>, Error> {
        if grant.personal_data() == PersonalData::Full {
            return Ok(loans);
        }
        let accounts: Vec<&str> = loans
            .iter()
            .flat_map(|loan| loan.accounts())
            .map(AccountNumber::as_str)
            .collect();
        let masks = self.free_text_masks(grant, &accounts).await?;
        let numbers_only = FreeTextMask::without_holders();
        Ok(loans
            .into_iter()
            .map(|mut loan| {
                let masks: Vec<&FreeTextMask> = loan
                    .accounts()
                    .into_iter()
                    .map(|account| masks.get(account.as_str()).unwrap_or(&numbers_only))
                    .collect();
                let mask_all = |text: &str| {
                    masks
                        .iter()
                        .fold(text.to_owned(), |text, mask| mask.apply(&text))
                };
                loan.purpose_note = loan.purpose_note.map(mask_all);
                for act in loan.decision.iter_mut().chain(loan.end.iter_mut()) {
                    act.note = act.note.take().map(|note| note.map(mask_all));
                }
                loan
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loan_cursor_round_trips() {
        let cursor = LoanCursor {
            request_time: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(LoanCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(LoanCursor::decode("x/y"), None);
    }

    #[test]
    fn a_filter_whose_period_is_empty_is_rejected() {
        let now = Utc::now();
        let filter = LoanFilter {
            period_start: Some(now),
            period_end: Some(now),
            ..Default::default()
        };
        assert!(filter.validate().is_err());
    }
}
