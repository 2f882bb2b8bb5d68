//! What an approval may lend: the requested items or fewer, each with the requested pages or
//! fewer, for the requested period or a part of it.

use chrono::{DateTime, Utc};

use super::loan::{Loan, LoanItem, LoanNote};
use crate::domain::{Error, PersonalData};

/// What an approval lends, and for when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lending {
    pub items: Vec<LoanItem>,
    pub start: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

/// What an approver decides to lend.
#[derive(Debug, Clone)]
pub struct LoanApproval {
    /// Empty: everything requested.
    pub items: Vec<LoanItem>,
    pub start: Option<DateTime<Utc>>,
    pub due: Option<DateTime<Utc>>,
    pub personal_data: PersonalData,
    pub note: Option<LoanNote>,
}

impl LoanApproval {
    /// What the approval lends of `loan`: the requested items or a subset of them, each with
    /// its requested pages or fewer, for the requested period or a part of it. Nothing beyond
    /// the request can be lent.
    pub fn narrow(&self, loan: &Loan, now: DateTime<Utc>) -> Result<Lending, Error> {
        let mut lent = Vec::new();
        if self.items.is_empty() {
            lent = loan.requested.clone();
        }
        for item in &self.items {
            let requested = loan
                .requested
                .iter()
                .find(|requested| requested.target == item.target)
                .ok_or_else(|| {
                    Error::invalid(
                        "items",
                        format!(
                            "{} was not requested: an approval lends less, never more",
                            item.target
                        ),
                    )
                })?;
            if lent
                .iter()
                .any(|other: &LoanItem| other.target == item.target)
            {
                return Err(Error::invalid(
                    "items",
                    format!("{} is named twice", item.target),
                ));
            }
            let pages = match (&item.pages, &requested.pages) {
                (None, requested) => requested.clone(),
                (Some(pages), Some(asked)) => {
                    if let Some(page) = pages.iter().find(|page| !asked.contains(page)) {
                        return Err(Error::invalid(
                            "items.pages",
                            format!("page {page} of {} was not requested", item.target),
                        ));
                    }
                    Some(pages.clone())
                }
                (Some(pages), None) => Some(pages.clone()),
            };
            lent.push(LoanItem {
                target: item.target.clone(),
                pages,
            });
        }
        let start = self.start.unwrap_or(loan.start);
        let due = self.due.unwrap_or(loan.due);
        if start < loan.start || due > loan.due {
            return Err(Error::invalid(
                "due_time",
                format!(
                    "an approval may shorten the requested period ({} to {}), not widen it",
                    loan.start, loan.due
                ),
            ));
        }
        if due <= now {
            return Err(Error::FailedPrecondition(format!(
                "loan {} would be due at {due}, which has passed: the borrower asks again",
                loan.name()
            )));
        }
        if due <= start {
            return Err(Error::invalid("due_time", "must be after the start"));
        }
        Ok(Lending {
            items: lent,
            start,
            due,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use uuid::Uuid;

    use super::*;
    use crate::domain::lending::loan::{Borrower, LoanPurpose, LoanRecord, LoanTarget};

    const DOC: &str = "customers/1201000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e";

    fn document(pages: &[i64]) -> LoanItem {
        LoanItem::new(LoanTarget::parse("items", DOC).unwrap(), pages.to_vec()).unwrap()
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
            requested: vec![
                document(&[1, 2]),
                LoanItem::new(
                    LoanTarget::parse("i", "customers/1201000002").unwrap(),
                    vec![],
                )
                .unwrap(),
            ],
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

    fn approval(items: Vec<LoanItem>) -> LoanApproval {
        LoanApproval {
            items,
            start: None,
            due: None,
            personal_data: PersonalData::Masked,
            note: None,
        }
    }

    #[test]
    fn an_approval_lends_what_was_requested_or_less_but_never_more() {
        let now = Utc::now();
        let loan = loan(now);
        let lent = approval(vec![]).narrow(&loan, now).unwrap().items;
        assert_eq!(lent, loan.requested);
        let lent = approval(vec![document(&[2])])
            .narrow(&loan, now)
            .unwrap()
            .items;
        assert_eq!(lent, vec![document(&[2])]);
        assert!(approval(vec![document(&[3])]).narrow(&loan, now).is_err());
        let other = LoanItem::new(
            LoanTarget::parse("i", "customers/1201000003").unwrap(),
            vec![],
        )
        .unwrap();
        assert!(approval(vec![other]).narrow(&loan, now).is_err());
        let mut longer = approval(vec![]);
        longer.due = Some(loan.due + Duration::days(1));
        assert!(longer.narrow(&loan, now).is_err());
    }
}
