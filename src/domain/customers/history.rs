//! The customer's history: every state an account has been in, so that what the account
//! looked like when a document was filed stays answerable after a rename, a transfer of
//! ownership or a class change.
//!
//! PostgreSQL writes the revisions (a trigger on `customers`, so no path that changes a
//! customer can skip it); the domain says who changed it and when, from the clock.

use chrono::{DateTime, Utc};

use crate::domain::access::masking::{present_customer, withhold_holder};
use crate::domain::clock::Clock;
use crate::domain::names::customer_name;
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{AccountNumber, Archive, Customer, Error, parse_customer_name};
use crate::domain::{Actor, Permission};
use crate::domain::{Grant, Reach, Resource};

/// Who changes a customer and when: `{system}/{person}` of the caller, at the clock's now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStamp {
    pub by: String,
    pub at: DateTime<Utc>,
}

impl ChangeStamp {
    pub fn now(actor: &Actor, clock: &dyn Clock) -> Self {
        Self {
            by: format!("{}/{}", actor.system, actor.person),
            at: clock.now(),
        }
    }
}

/// The account as it was from one change to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRevision {
    /// The account in this revision; its `update_time` is `valid_from`.
    pub customer: Customer,
    pub valid_from: DateTime<Utc>,
    /// The next revision's `valid_from`; `None` for the current revision.
    pub valid_until: Option<DateTime<Utc>>,
    /// `{system}/{person}`, or empty for accounts opened before history was kept.
    pub changed_by: String,
}

impl CustomerRevision {
    pub fn name(&self) -> RevisionName {
        RevisionName {
            account: self.customer.account_number.clone(),
            revision: self.customer.revision,
        }
    }
}

/// `customers/{account_number}/revisions/{revision}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionName {
    pub account: AccountNumber,
    pub revision: u32,
}

impl RevisionName {
    pub fn parse(field: &'static str, name: &str) -> Result<Self, Error> {
        let malformed = || {
            Error::invalid(
                field,
                format!(
                    "expected `customers/{{account_number}}/revisions/{{revision}}`, got {name:?}"
                ),
            )
        };
        let (customer, revision) = name.rsplit_once("/revisions/").ok_or_else(malformed)?;
        let account = parse_customer_name(field, customer)?;
        let revision = revision
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && revision.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    format!("revision {revision:?} is not a positive integer"),
                )
            })?;
        Ok(Self { account, revision })
    }
}

impl std::fmt::Display for RevisionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "customers/{}/revisions/{}", self.account, self.revision)
    }
}

/// Where the next page of a customer's history starts: newest first, so below this revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionCursor(pub u32);

impl Cursor for RevisionCursor {
    fn encode(&self) -> String {
        self.0.to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        text.parse().ok().map(Self)
    }
}

impl Archive {
    /// Lists a customer's revisions, newest first, masked as the customer is.
    pub async fn list_customer_revisions(
        &self,
        actor: &Actor,
        account: &AccountNumber,
        page: PageRequest<RevisionCursor>,
    ) -> Result<Page<CustomerRevision, RevisionCursor>, Error> {
        let resource =
            Resource::named(format!("{}/revisions", customer_name(account))).account(account);
        self.audited(actor, "ListCustomerRevisions", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCustomers)?;
            let current = self.reachable_customer(&grant, account).await?;
            let revisions = self
                .db
                .customer_revisions(account, page.after.map(|c| c.0), page.size + 1)
                .await?;
            let page = Page::from_overfetch(revisions, page.size, |r| {
                RevisionCursor(r.customer.revision)
            });
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|revision| present_revision(revision, &current, &grant))
                    .collect(),
                next: page.next,
            })
        })
        .await
    }

    /// Returns one revision of a customer: the account as it was then.
    pub async fn customer_revision(
        &self,
        actor: &Actor,
        name: &RevisionName,
    ) -> Result<CustomerRevision, Error> {
        let resource = Resource::named(name.to_string()).account(&name.account);
        self.audited(actor, "GetCustomerRevision", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadCustomers)?;
            let current = self.reachable_customer(&grant, &name.account).await?;
            let revision = self
                .db
                .customer_revision(&name.account, name.revision)
                .await?
                .ok_or_else(|| Error::NotFound(format!("revision {name} not found")))?;
            Ok(present_revision(revision, &current, &grant))
        })
        .await
    }
}

/// Masks a revision as the customer itself is masked; a household's name in an old revision
/// stays masked even if the account has become a business since. A caller who acts for the
/// account's holder (an own-account reach: the customer, a payment channel) sees the personal
/// data of the current holding only: a revision of an earlier holder, before a transfer
/// (过户), comes without its ID number, phone and address, and a household's name masked.
fn present_revision(
    revision: CustomerRevision,
    current: &Customer,
    grant: &Grant<'_>,
) -> CustomerRevision {
    let for_the_holder = matches!(grant.reach(), Reach::Account(_));
    let customer = if for_the_holder && !same_holding(&revision.customer, current) {
        withhold_holder(revision.customer)
    } else {
        present_customer(revision.customer, grant)
    };
    CustomerRevision {
        customer,
        ..revision
    }
}

/// Whether a revision's holder is the account's current holder. The ID number identifies the
/// holder (a rename of the same person or company keeps it; a transfer replaces it); where
/// either side has none recorded, the name must be the same. When in doubt the revision counts
/// as another holder's, which hides more rather than less.
fn same_holding(revision: &Customer, current: &Customer) -> bool {
    match (&revision.id_number, &current.id_number) {
        (Some(then), Some(now)) => then == now,
        _ => revision.display_name == current.display_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_name_round_trips() {
        let name = RevisionName::parse("name", "customers/1201000001/revisions/3").unwrap();
        assert_eq!(name.revision, 3);
        assert_eq!(name.to_string(), "customers/1201000001/revisions/3");
    }

    #[test]
    fn a_revision_name_without_a_positive_number_is_rejected() {
        for bad in [
            "customers/1201000001/revisions/0",
            "customers/1201000001/revisions/-1",
            "customers/1201000001/revisions/+2",
            "customers/1201000001/revisions/",
            "customers/1201000001",
            "customers/12/revisions/1",
        ] {
            assert!(RevisionName::parse("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_stamp_names_system_and_person() {
        let clock = crate::domain::ManualClock::starting_at(
            DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        );
        let actor = Actor {
            system: "archive-desk".into(),
            person: "c-042".into(),
            role: "county-custodian".into(),
            org_unit: None,
            account: None,
            request_id: "r".into(),
        };
        let stamp = ChangeStamp::now(&actor, &clock);
        assert_eq!(stamp.by, "archive-desk/c-042");
        assert_eq!(stamp.at, clock.now());
    }
}
