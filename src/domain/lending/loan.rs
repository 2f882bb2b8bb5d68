//! A loan (借阅) and its rules, free of I/O: what may be asked for, what an approval may lend,
//! and where a loan stands at a given time.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::documents::document::text_field;
use crate::domain::names::{DocumentName, LoanName, parse_customer_name};
use crate::domain::{AccountNumber, Error, OrgUnitCode, PersonalData};

/// The most items one request may name; a larger set is a whole archive.
pub const MAX_LOAN_ITEMS: usize = 100;

/// The longest period a loan may run; extension is a new request.
pub const MAX_LOAN_PERIOD: Duration = Duration::days(180);

/// The most page numbers one item may name.
const MAX_ITEM_PAGES: usize = 1000;

text_field!(
    /// What a borrower, approver or custodian writes about a loan: its purpose, a decision's
    /// reason, a return note.
    LoanNote,
    max = 500,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

/// Why a loan is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanPurpose {
    BusinessHandling,
    Audit,
    Dispute,
    CustomerService,
}

impl LoanPurpose {
    pub const ALL: [LoanPurpose; 4] = [
        Self::BusinessHandling,
        Self::Audit,
        Self::Dispute,
        Self::CustomerService,
    ];

    /// The purpose's code in the database and the audit trail.
    pub fn code(self) -> &'static str {
        match self {
            Self::BusinessHandling => "business_handling",
            Self::Audit => "audit",
            Self::Dispute => "dispute",
            Self::CustomerService => "customer_service",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.code() == code)
    }
}

/// The decisions recorded on a loan; where it stands now also depends on the clock
/// ([`Loan::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanRecord {
    Requested,
    Approved,
    Rejected,
    Returned,
    Revoked,
}

impl LoanRecord {
    pub const ALL: [LoanRecord; 5] = [
        Self::Requested,
        Self::Approved,
        Self::Rejected,
        Self::Returned,
        Self::Revoked,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Returned => "returned",
            Self::Revoked => "revoked",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|record| record.code() == code)
    }
}

/// Where a loan stands at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanState {
    Requested,
    /// Approved, not started yet.
    Approved,
    /// Approved, started, not due: what was lent may be read.
    Active,
    Rejected,
    Returned,
    Revoked,
    /// Approved and past its due time.
    Expired,
}

/// What one item of a loan names: one document or an account's whole archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoanTarget {
    Archive(AccountNumber),
    Document(DocumentName),
}

impl LoanTarget {
    /// Parses `customers/{account}` or `customers/{account}/documents/{id}`.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        if name.contains("/documents/") {
            DocumentName::parse(field, name).map(Self::Document)
        } else {
            parse_customer_name(field, name).map(Self::Archive)
        }
    }

    pub fn account(&self) -> &AccountNumber {
        match self {
            Self::Archive(account) => account,
            Self::Document(document) => &document.account,
        }
    }

    pub fn document_id(&self) -> Option<Uuid> {
        match self {
            Self::Archive(_) => None,
            Self::Document(document) => Some(document.document_id),
        }
    }
}

impl std::fmt::Display for LoanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Archive(account) => write!(f, "customers/{account}"),
            Self::Document(document) => write!(f, "{document}"),
        }
    }
}

/// One thing asked for or lent: a target and, for a document, which pages (`None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanItem {
    pub target: LoanTarget,
    pub pages: Option<Vec<u32>>,
}

impl LoanItem {
    /// Checks the page numbers (1-based, at most a thousand; sorted and deduplicated here) and
    /// that a whole archive names none.
    pub fn new(target: LoanTarget, pages: Vec<i64>) -> Result<Self, Error> {
        if pages.is_empty() {
            return Ok(Self {
                target,
                pages: None,
            });
        }
        if matches!(target, LoanTarget::Archive(_)) {
            return Err(Error::invalid(
                "items.pages",
                format!("{target} is a whole archive: pages are named only for a document"),
            ));
        }
        if pages.len() > MAX_ITEM_PAGES {
            return Err(Error::invalid(
                "items.pages",
                format!("name at most {MAX_ITEM_PAGES} pages, or none for all of them"),
            ));
        }
        let mut numbers = pages
            .into_iter()
            .map(|page| {
                u32::try_from(page)
                    .ok()
                    .filter(|page| *page >= 1)
                    .ok_or_else(|| {
                        Error::invalid("items.pages", format!("page {page} is not 1 or more"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        numbers.sort_unstable();
        numbers.dedup();
        Ok(Self {
            target,
            pages: Some(numbers),
        })
    }

    /// Whether this item lends page `number` of its document (an archive lends every page).
    pub fn lends_page(&self, number: u32) -> bool {
        self.pages
            .as_ref()
            .is_none_or(|pages| pages.contains(&number))
    }

    /// Whether this item lends document `name`.
    pub fn covers(&self, name: &DocumentName) -> bool {
        match &self.target {
            LoanTarget::Archive(account) => *account == name.account,
            LoanTarget::Document(document) => document == name,
        }
    }
}

/// Who asked for a loan, from their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Borrower {
    /// `system/person`: the key of the read path's lookup.
    pub acted_by: String,
    /// The person alone: the approver must be someone else, whatever system they use.
    pub person: String,
    pub role: String,
    pub org_unit: Option<OrgUnitCode>,
}

/// A recorded decision or end: who, when, and what they wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanAct {
    pub by: String,
    pub time: DateTime<Utc>,
    pub note: Option<LoanNote>,
}

/// A loan as kept, its whole life included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub id: Uuid,
    pub borrower: Borrower,
    pub purpose: LoanPurpose,
    pub purpose_note: LoanNote,
    pub requested: Vec<LoanItem>,
    /// Empty until approved.
    pub lent: Vec<LoanItem>,
    pub start: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub record: LoanRecord,
    pub request_time: DateTime<Utc>,
    /// Chosen at approval.
    pub personal_data: Option<PersonalData>,
    pub decision: Option<LoanAct>,
    pub end: Option<LoanAct>,
}

impl Loan {
    pub fn name(&self) -> LoanName {
        LoanName(self.id)
    }

    /// Where the loan stands at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> LoanState {
        match self.record {
            LoanRecord::Requested => LoanState::Requested,
            LoanRecord::Rejected => LoanState::Rejected,
            LoanRecord::Returned => LoanState::Returned,
            LoanRecord::Revoked => LoanState::Revoked,
            LoanRecord::Approved if now < self.start => LoanState::Approved,
            LoanRecord::Approved if now < self.due => LoanState::Active,
            LoanRecord::Approved => LoanState::Expired,
        }
    }

    /// The accounts the loan asks for, each once, in request order.
    pub fn accounts(&self) -> Vec<&AccountNumber> {
        let mut accounts: Vec<&AccountNumber> = Vec::new();
        for item in &self.requested {
            if !accounts.contains(&item.target.account()) {
                accounts.push(item.target.account());
            }
        }
        accounts
    }

    /// The lent item that covers `document`, a document's own item before its archive's.
    pub fn lent_item(&self, document: &DocumentName) -> Option<&LoanItem> {
        let covering = || self.lent.iter().filter(|item| item.covers(document));
        covering()
            .find(|item| matches!(item.target, LoanTarget::Document(_)))
            .or_else(|| covering().next())
    }
}

/// A borrower's request, checked.
#[derive(Debug, Clone)]
pub struct LoanRequest {
    pub items: Vec<LoanItem>,
    pub purpose: LoanPurpose,
    pub purpose_note: LoanNote,
    pub start: Option<DateTime<Utc>>,
    pub due: DateTime<Utc>,
}

impl LoanRequest {
    /// Checks the items (1 to [`MAX_LOAN_ITEMS`], each target once).
    pub fn new(
        items: Vec<LoanItem>,
        purpose: LoanPurpose,
        purpose_note: LoanNote,
        start: Option<DateTime<Utc>>,
        due: DateTime<Utc>,
    ) -> Result<Self, Error> {
        if items.is_empty() {
            return Err(Error::invalid(
                "items",
                "name at least one document or archive",
            ));
        }
        if items.len() > MAX_LOAN_ITEMS {
            return Err(Error::invalid(
                "items",
                format!(
                    "a loan names at most {MAX_LOAN_ITEMS} items, got {}; ask for the whole archive instead",
                    items.len()
                ),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|other| other.target == item.target) {
                return Err(Error::invalid(
                    "items",
                    format!("{} is named twice", item.target),
                ));
            }
        }
        Ok(Self {
            items,
            purpose,
            purpose_note,
            start,
            due,
        })
    }

    /// The period the loan asks for, with the start defaulting to `now`; the due time must lie
    /// after both, at most [`MAX_LOAN_PERIOD`] after the start.
    pub fn period(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
        let start = self.start.unwrap_or(now);
        check_period(start, self.due, now)?;
        Ok((start, self.due))
    }
}

fn check_period(start: DateTime<Utc>, due: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Error> {
    if due <= start || due <= now {
        return Err(Error::invalid(
            "due_time",
            format!("must be after the start ({start}) and after now ({now})"),
        ));
    }
    if due - start > MAX_LOAN_PERIOD {
        return Err(Error::invalid(
            "due_time",
            format!(
                "a loan runs at most {} days; extension is a new request",
                MAX_LOAN_PERIOD.num_days()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "customers/1201000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e";

    fn document(pages: &[i64]) -> LoanItem {
        LoanItem::new(LoanTarget::parse("items", DOC).unwrap(), pages.to_vec()).unwrap()
    }

    fn archive() -> LoanItem {
        LoanItem::new(
            LoanTarget::parse("items", "customers/1201000002").unwrap(),
            vec![],
        )
        .unwrap()
    }

    fn loan(now: DateTime<Utc>) -> Loan {
        Loan {
            id: Uuid::now_v7(),
            borrower: Borrower {
                acted_by: "marketing/zhang".into(),
                person: "zhang".into(),
                role: "inspector".into(),
                org_unit: None,
            },
            purpose: LoanPurpose::Audit,
            purpose_note: LoanNote::parse("年度审计").unwrap(),
            requested: vec![document(&[1, 2]), archive()],
            lent: vec![],
            start: now,
            due: now + Duration::days(7),
            record: LoanRecord::Requested,
            request_time: now,
            personal_data: None,
            decision: None,
            end: None,
        }
    }

    #[test]
    fn an_approved_loan_is_active_from_its_start_until_its_due_time() {
        let now = Utc::now();
        let mut loan = loan(now + Duration::hours(1));
        loan.record = LoanRecord::Approved;
        assert_eq!(loan.state(now), LoanState::Approved);
        assert_eq!(loan.state(now + Duration::hours(1)), LoanState::Active);
        assert_eq!(loan.state(loan.due), LoanState::Expired);
        loan.record = LoanRecord::Revoked;
        assert_eq!(loan.state(now + Duration::hours(2)), LoanState::Revoked);
    }

    #[test]
    fn pages_are_sorted_and_a_whole_archive_names_none() {
        assert_eq!(document(&[3, 1, 3]).pages, Some(vec![1, 3]));
        assert!(
            LoanItem::new(
                LoanTarget::parse("i", "customers/1201000002").unwrap(),
                vec![1]
            )
            .is_err()
        );
        assert!(LoanItem::new(LoanTarget::parse("i", DOC).unwrap(), vec![0]).is_err());
    }

    #[test]
    fn a_request_naming_nothing_or_one_thing_twice_is_rejected() {
        let note = LoanNote::parse("x").unwrap();
        let due = Utc::now() + Duration::days(1);
        assert!(LoanRequest::new(vec![], LoanPurpose::Audit, note.clone(), None, due).is_err());
        let twice = vec![document(&[]), document(&[1])];
        assert!(LoanRequest::new(twice, LoanPurpose::Audit, note, None, due).is_err());
    }

    #[test]
    fn a_period_past_its_due_or_longer_than_the_most_is_rejected() {
        let now = Utc::now();
        let request = |start, due| {
            LoanRequest::new(
                vec![archive()],
                LoanPurpose::Audit,
                LoanNote::parse("x").unwrap(),
                start,
                due,
            )
            .unwrap()
        };
        assert!(request(None, now - Duration::hours(1)).period(now).is_err());
        assert!(
            request(None, now + Duration::days(181))
                .period(now)
                .is_err()
        );
        assert!(
            request(Some(now + Duration::days(2)), now + Duration::days(1))
                .period(now)
                .is_err()
        );
        assert_eq!(
            request(None, now + Duration::days(1))
                .period(now)
                .unwrap()
                .0,
            now
        );
    }

    #[test]
    fn a_documents_own_item_decides_its_pages_before_its_archives() {
        let now = Utc::now();
        let mut loan = loan(now);
        let mut same_account = archive();
        same_account.target = LoanTarget::Archive(AccountNumber::parse("1201000001").unwrap());
        loan.lent = vec![same_account, document(&[2])];
        let name = DocumentName::parse("n", DOC).unwrap();
        assert_eq!(loan.lent_item(&name).unwrap().pages, Some(vec![2]));
    }
}
