//! Reading the audit trail: querying it, and verifying its chain (the scan is storage's).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::event::{ChainedEvent, Resource, Verification};
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
    pub fn describe(&self) -> String {
        format!("audit events where {self:?}")
    }
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
        let resource = Resource::named(filter.describe());
        self.audited(actor, "ListAuditEvents", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadAudit)?;
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
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|event| present_audit_event(event, &grant))
                    .collect(),
                next: page.next,
            })
        })
        .await
    }

    /// Verifies the whole chain with `key`, reporting the first broken sequence number.
    pub async fn verify_audit_chain(&self, actor: &Actor) -> Result<Verification, Error> {
        self.audited(
            actor,
            "VerifyAuditChain",
            Resource::named("auditEvents"),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ReadAudit)?;
                Ok(self.db.verify_audit_chain().await?)
            },
        )
        .await
    }
}
