//! Reading the audit trail: querying it, and verifying its chain (the scan is storage's).

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::bounds::{MAX_ACTION_BYTES, MAX_PERSON_BYTES, check_recordable, is_recordable};
use super::event::{ChainedEvent, Resource, Verification};
use crate::domain::access::free_text::FreeTextMask;
use crate::domain::access::masking::present_audit_event;
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{AccountNumber, Archive, Error};
use crate::domain::{Actor, Permission, Reach};

/// Which events a custodian asks for; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub account: Option<AccountNumber>,
    pub document_id: Option<Uuid>,
    pub person: Option<String>,
    pub action: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// The listing as the trail records it (its resource) and page tokens are bound to: a
    /// stable text, `auditEvents` followed by the filters set, always in this order, e.g.
    /// `auditEvents?account=1200000001&person=clerk-7&after=2026-01-01T00:00:00Z`. Keys:
    /// `account`, `document`, `person`, `action`, `after`, `before` (RFC 3339, UTC); in values
    /// `%`, `&`, `=`, `#`, `+`, space and unrecordable characters are percent-encoded.
    pub fn describe(&self) -> String {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(account) = &self.account {
            query.push(("account", account.to_string()));
        }
        if let Some(document) = self.document_id {
            query.push(("document", document.to_string()));
        }
        if let Some(person) = &self.person {
            query.push(("person", query_value(person)));
        }
        if let Some(action) = &self.action {
            query.push(("action", query_value(action)));
        }
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        if let Some(after) = &self.after {
            query.push(("after", time(after)));
        }
        if let Some(before) = &self.before {
            query.push(("before", time(before)));
        }
        let mut description = String::from("auditEvents");
        for (i, (key, value)) in query.iter().enumerate() {
            description.push(if i == 0 { '?' } else { '&' });
            description.push_str(key);
            description.push('=');
            description.push_str(value);
        }
        description
    }

    /// The trail's resource of this listing: its description, and the account and document
    /// it concerns, so that the listing shows in that account's (or document's) own trail.
    pub fn resource(&self) -> Resource {
        Resource {
            name: self.describe(),
            account: self.account.clone(),
            document_id: self.document_id,
        }
    }

    /// Refuses filters the trail could not record as given: the person and action filters
    /// obey the limits and the character rule of the fields they match.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(person) = &self.person {
            check_recordable(person, MAX_PERSON_BYTES)
                .map_err(|reason| Error::invalid("person", reason))?;
        }
        if let Some(action) = &self.action {
            check_recordable(action, MAX_ACTION_BYTES)
                .map_err(|reason| Error::invalid("action", reason))?;
        }
        Ok(())
    }
}

/// `text` as a value of a resource description's query.
fn query_value(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '&' | '=' | '#' | '+' | ' ') || !is_recordable(c) {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        } else {
            encoded.push(c);
        }
    }
    encoded
}

/// Audit listings continue below a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqCursor(pub i64);

impl Cursor for SeqCursor {
    fn encode(&self) -> String {
        self.0.to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        text.parse().ok().map(Self)
    }
}

impl Archive {
    /// Lists audit events, newest first. Roles scoped to an org unit must name an account of
    /// theirs; unscoped roles may search everything.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: PageRequest<SeqCursor>,
    ) -> Result<Page<ChainedEvent, SeqCursor>, Error> {
        self.audited(actor, "ListAuditEvents", filter.resource(), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadAudit)?;
            filter.check()?;
            if *grant.reach() != Reach::All {
                let account = filter.account.as_ref().ok_or_else(|| {
                    Error::PermissionDenied(
                        "your role reads the audit trail of its own accounts only: set account"
                            .into(),
                    )
                })?;
                self.reachable_customer(&grant, account).await?;
            }
            let events = self
                .db
                .list_audit_events(filter, page.after.map(|c| c.0), page.size + 1)
                .await?;
            let page = Page::from_overfetch(events, page.size, |e| SeqCursor(e.seq));
            let mut accounts: Vec<&str> = page
                .items
                .iter()
                .filter_map(|e| e.event.resource.account.as_ref().map(AccountNumber::as_str))
                .collect();
            accounts.sort_unstable();
            accounts.dedup();
            let masks = self.free_text_masks(&grant, &accounts).await?;
            let numbers_only = FreeTextMask::without_holders();
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|event| {
                        let public = policy.is_public_role(&event.event.role);
                        let holders = event
                            .event
                            .resource
                            .account
                            .as_ref()
                            .and_then(|account| masks.get(account.as_str()))
                            .unwrap_or(&numbers_only);
                        present_audit_event(event, &grant, public, holders)
                    })
                    .collect(),
                next: page.next,
            })
        })
        .await
    }

    /// Verifies the chain from where the last verification found it intact (from the start
    /// the first time), and that it reaches the newest checkpoint of its head, reporting the
    /// first broken sequence number: each call costs what was added since the last, so it
    /// finishes at any volume. `custodian verify-audit-chain` re-checks from the start.
    pub async fn verify_audit_chain(&self, actor: &Actor) -> Result<Verification, Error> {
        self.audited(
            actor,
            "VerifyAuditChain",
            Resource::named("auditEvents"),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ReadAudit)?;
                let _place = self.heavy_work_place()?;
                let key = self.db.chain_key();
                let checkpoint = self.checkpoints.latest().await?;
                // A mark the key did not sign is ignored: the chain is then checked from the
                // start.
                let mark = self
                    .checkpoints
                    .verified()
                    .await?
                    .filter(|mark| mark.verifies(key));
                let (mut verification, mut head) = self
                    .db
                    .verify_audit_chain(checkpoint.clone(), mark.as_ref().map(|m| m.checkpoint))
                    .await?;
                if let Some(mark) = mark
                    && verification.broken_at.is_some()
                {
                    // Rare, and then worth a full scan to find the first break. The mark saw
                    // the chain reach its event: a chain that ends before it was cut.
                    let reference = match checkpoint {
                        Some(newest) if newest.checkpoint.seq >= mark.checkpoint.seq => newest,
                        _ => mark,
                    };
                    (verification, head) =
                        self.db.verify_audit_chain(Some(reference), None).await?;
                }
                if let Some((seq, hash)) = head {
                    self.checkpoints
                        .write_verified(&key.sign(seq, hash))
                        .await?;
                }
                Ok(verification)
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_described_by_stable_text_in_a_fixed_order() {
        assert_eq!(AuditFilter::default().describe(), "auditEvents");
        let filter = AuditFilter {
            account: Some(AccountNumber::parse("1200000001").unwrap()),
            document_id: Some(Uuid::nil()),
            person: Some("张三 & co=1%".into()),
            action: Some("GetCustomer".into()),
            after: Some(DateTime::from_timestamp(1_767_225_600, 0).unwrap()),
            before: Some(DateTime::from_timestamp(1_767_225_601, 500_000_000).unwrap()),
        };
        assert_eq!(
            filter.describe(),
            "auditEvents?account=1200000001&document=00000000-0000-0000-0000-000000000000\
             &person=张三%20%26%20co%3D1%25&action=GetCustomer\
             &after=2026-01-01T00:00:00Z&before=2026-01-01T00:00:01.500Z"
        );
        let resource = filter.resource();
        assert_eq!(resource.account.unwrap().as_str(), "1200000001");
        assert_eq!(resource.document_id, Some(Uuid::nil()));
    }

    #[test]
    fn filters_the_trail_could_not_record_are_refused() {
        let long = AuditFilter {
            person: Some("x".repeat(1 << 20)),
            ..AuditFilter::default()
        };
        assert!(matches!(
            long.check(),
            Err(Error::InvalidArgument {
                field: "person",
                ..
            })
        ));
        let control = AuditFilter {
            action: Some("Get\0Customer".into()),
            ..AuditFilter::default()
        };
        assert!(matches!(
            control.check(),
            Err(Error::InvalidArgument {
                field: "action",
                ..
            })
        ));
    }
}
