//! Disposal (销毁): destroying records whose retention has ended, as a two-person act.
//!
//! One custodian proposes a destruction list; another person approves it, and only then are the
//! documents destroyed. Every rule is checked at proposal and again, under lock, at approval:
//! nothing on hold, not yet expired or already destroyed can go, whoever asks. A destroyed
//! document keeps its metadata as a tombstone; its page objects are deleted unless a live
//! document uses the same content. The lists are kept forever.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use uuid::Uuid;

use super::retention::{ExpiredDocument, Reason, RetentionRule, acted_by};
use crate::domain::Resource;
use crate::domain::access::free_text::FreeTextMask;
use crate::domain::customers::customer::require_within_reach;
use crate::domain::names::DestructionListName;
use crate::domain::{Actor, Confidentiality, Grant, Permission, PersonalData, Reach};
use crate::domain::{Archive, DocumentName, DocumentTypeCode, Error, OrgUnitCode, Title};

/// Page objects deleted at once after a disposal (each holds a database connection).
const DELETIONS_IN_FLIGHT: usize = 4;

/// The most documents one list may hold.
pub const MAX_LIST_DOCUMENTS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    Proposed,
    Destroyed,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `system/person`.
    pub decided_by: String,
    pub time: DateTime<Utc>,
    pub note: Option<Reason>,
}

/// A destruction list (销毁清册) with its documents as they were when proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestructionList {
    pub name: DestructionListName,
    pub org_unit: OrgUnitCode,
    pub reason: Reason,
    pub state: ListState,
    /// `system/person`.
    pub proposed_by: String,
    /// The person alone: the approver must be someone else, whatever system they use.
    pub proposer_person: String,
    pub propose_time: DateTime<Utc>,
    pub decision: Option<Decision>,
    pub documents: Vec<ExpiredDocument>,
}

/// What storage knows about a document someone wants destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisposalCandidate {
    pub name: DocumentName,
    pub org_unit: OrgUnitCode,
    pub document_type: DocumentTypeCode,
    pub confidentiality: Confidentiality,
    pub title: Title,
    pub rule: RetentionRule,
    pub original_at: DateTime<Utc>,
    pub account_closed_at: Option<DateTime<Utc>>,
    pub page_count: u32,
    pub on_hold: bool,
    pub destroyed: bool,
    /// Whether another list still being decided holds it.
    pub on_other_open_list: bool,
}

impl DisposalCandidate {
    /// The document as a list records it, if its retention has ended by `now` and nothing
    /// keeps it; otherwise why it may not be destroyed.
    pub fn disposable(
        &self,
        unit: &OrgUnitCode,
        now: DateTime<Utc>,
    ) -> Result<ExpiredDocument, String> {
        if self.destroyed {
            return Err("is already destroyed".into());
        }
        if !self.org_unit.is_within(unit) {
            return Err(format!(
                "belongs to org unit {}, not to {}",
                self.org_unit.as_str(),
                unit.as_str()
            ));
        }
        if self.on_hold {
            return Err("is under a legal hold".into());
        }
        if self.on_other_open_list {
            return Err("is on another destruction list awaiting a decision".into());
        }
        match self
            .rule
            .expire_time(self.original_at, self.account_closed_at)
        {
            Some(expire_time) if expire_time <= now => Ok(ExpiredDocument {
                name: self.name.clone(),
                document_type: self.document_type.clone(),
                title: self.title.clone(),
                rule: self.rule,
                original_at: self.original_at,
                expire_time,
                page_count: self.page_count,
            }),
            Some(expire_time) => Err(format!("is kept until {}", expire_time.to_rfc3339())),
            None => Err("is kept permanently or until its account is closed".into()),
        }
    }
}

/// Checks every candidate; the error names each document that may not go and why.
pub fn disposable_all(
    candidates: &[DisposalCandidate],
    unit: &OrgUnitCode,
    now: DateTime<Utc>,
) -> Result<Vec<ExpiredDocument>, Error> {
    let mut documents = Vec::with_capacity(candidates.len());
    let mut obstacles = Vec::new();
    for candidate in candidates {
        match candidate.disposable(unit, now) {
            Ok(document) => documents.push(document),
            Err(why) => obstacles.push(format!("{} {why}", candidate.name)),
        }
    }
    if obstacles.is_empty() {
        Ok(documents)
    } else {
        Err(Error::FailedPrecondition(format!(
            "{} of {} documents may not be destroyed: {}",
            obstacles.len(),
            candidates.len(),
            obstacles.join("; ")
        )))
    }
}

/// How many of the candidates lie outside the grant's reach or sight: an approver destroys
/// only what they could read, as a proposer proposes only what they could.
fn out_of_sight(grant: &Grant<'_>, candidates: &[DisposalCandidate]) -> usize {
    candidates
        .iter()
        .filter(|c| {
            !(grant.reaches_account(&c.name.account, &c.org_unit)
                && grant.sees(&c.document_type, c.confidentiality))
        })
        .count()
}

fn list_resource(name: &DestructionListName) -> Resource {
    Resource::named(name.to_string())
}

fn list_not_found(name: &DestructionListName) -> Error {
    Error::NotFound(format!("destruction list {name} not found"))
}

impl Archive {
    /// Proposes destroying `documents` of `unit`.
    pub async fn propose_destruction_list(
        &self,
        actor: &Actor,
        unit: &OrgUnitCode,
        reason: Reason,
        documents: Vec<DocumentName>,
    ) -> Result<DestructionList, Error> {
        let name = DestructionListName(Uuid::now_v7());
        self.audited_change(
            actor,
            "ProposeDestructionList",
            list_resource(&name),
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::AppraiseRecords)?;
                require_within_reach(&grant, unit)?;
                let candidates = self.db.disposal_candidates(&documents).await?;
                if let Some(missing) = documents.iter().find(|wanted| {
                    !candidates.iter().any(|c| {
                        c.name == **wanted
                            && grant.reaches_account(&c.name.account, &c.org_unit)
                            && grant.sees(&c.document_type, c.confidentiality)
                    })
                }) {
                    return Err(crate::domain::documents::document::document_not_found(
                        missing,
                    ));
                }
                let now = self.clock.now();
                let list = DestructionList {
                    name,
                    org_unit: unit.clone(),
                    reason,
                    state: ListState::Proposed,
                    proposed_by: acted_by(actor),
                    proposer_person: actor.person.clone(),
                    propose_time: now,
                    decision: None,
                    documents: disposable_all(&candidates, unit, now)?,
                };
                let event = event.with_details(serde_json::json!({
                "reason": list.reason.as_str(),
                "documents": list.documents.iter().map(|d| d.name.to_string()).collect::<Vec<_>>(),
            }));
                self.db.insert_destruction_list(&list, &event).await?;
                Ok(list)
            },
        )
        .await
    }

    /// Approves a list someone else proposed and destroys its documents.
    pub async fn approve_destruction_list(
        &self,
        actor: &Actor,
        name: &DestructionListName,
        note: Option<Reason>,
    ) -> Result<DestructionList, Error> {
        let list = self
            .audited_change(
                actor,
                "ApproveDestructionList",
                list_resource(name),
                |event| async move {
                    let policy = self.policy();
                    let grant = policy.grant(actor)?;
                    let list = self.decidable_list(&grant, name).await?;
                    let mut disposal = self.db.begin_disposal(name).await?;
                    // Locked now: the list, its accounts and documents. Check everything again.
                    if disposal.state().await? != Some(ListState::Proposed) {
                        return Err(Error::FailedPrecondition(format!(
                            "destruction list {name} has been decided meanwhile"
                        )));
                    }
                    let ids: Vec<DocumentName> =
                        list.documents.iter().map(|d| d.name.clone()).collect();
                    let candidates = disposal.candidates(&ids).await?;
                    let beyond = out_of_sight(&grant, &candidates);
                    if beyond > 0 {
                        // Not named: they are out of the approver's sight.
                        return Err(Error::PermissionDenied(format!(
                            "destruction list {name} holds {beyond} documents you may not see; someone who sees them all must approve it"
                        )));
                    }
                    let now = self.clock.now();
                    disposable_all(&candidates, &list.org_unit, now)?;
                    let decision = Decision {
                        decided_by: acted_by(actor),
                        time: now,
                        note,
                    };
                    let event = event.with_details(serde_json::json!({
                        "documents": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    }));
                    disposal.destroy(&ids, &decision, &event).await?;
                    Ok(DestructionList {
                        state: ListState::Destroyed,
                        decision: Some(decision),
                        ..list
                    })
                },
            )
            .await?;
        // After the commit, beside the reply: a long list's thousands of deletions must not
        // hold the caller (or trip the unary timeout after the list was approved). The outbox
        // keeps whatever this task does not finish for the next start.
        let archive = self.clone();
        let list_name = *name;
        tokio::spawn(async move {
            match archive.delete_destroyed_contents().await {
                Ok(deleted) => tracing::info!(list = %list_name, deleted, "page objects deleted"),
                Err(error) => {
                    tracing::warn!(error = %error, list = %list_name, "page deletion deferred")
                }
            }
        });
        Ok(list)
    }

    /// Rejects a proposed list: nothing is destroyed.
    pub async fn reject_destruction_list(
        &self,
        actor: &Actor,
        name: &DestructionListName,
        note: Reason,
    ) -> Result<DestructionList, Error> {
        self.audited_change(
            actor,
            "RejectDestructionList",
            list_resource(name),
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                let list = self.decidable_list(&grant, name).await?;
                let decision = Decision {
                    decided_by: acted_by(actor),
                    time: self.clock.now(),
                    note: Some(note),
                };
                if !self
                    .db
                    .reject_destruction_list(name, &decision, &event)
                    .await?
                {
                    return Err(Error::FailedPrecondition(format!(
                        "destruction list {name} has been decided meanwhile"
                    )));
                }
                Ok(DestructionList {
                    state: ListState::Rejected,
                    decision: Some(decision),
                    ..list
                })
            },
        )
        .await
    }

    /// Returns a list with its documents.
    pub async fn destruction_list(
        &self,
        actor: &Actor,
        name: &DestructionListName,
    ) -> Result<DestructionList, Error> {
        self.audited(actor, "GetDestructionList", list_resource(name), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant
                .require(Permission::AppraiseRecords)
                .or_else(|_| grant.require(Permission::ApproveDisposal))?;
            let mut list = self.reachable_list(&grant, name).await?;
            if grant.personal_data() == PersonalData::Masked {
                // A list spans many archives: numbers only (see `free_text`).
                let mask = FreeTextMask::without_holders();
                list.reason = list.reason.map(|text| mask.apply(text));
                if let Some(note) = list.decision.as_mut().and_then(|d| d.note.as_mut()) {
                    *note = note.clone().map(|text| mask.apply(text));
                }
                for document in &mut list.documents {
                    document.title = document.title.clone().map(|text| mask.apply(text));
                }
            }
            Ok(list)
        })
        .await
    }

    /// Deletes the page objects (and their renditions) of destroyed documents that no live
    /// document uses; returns how many. Runs after each approval, at start and every few minutes, so a crash in between
    /// or a store outage loses no deletion.
    pub async fn delete_destroyed_contents(&self) -> Result<usize, Error> {
        let pending = self.db.pending_content_destructions().await?;
        let outcomes: Vec<Result<bool, Error>> = futures::stream::iter(pending)
            .map(|sha256| async move {
                let Some(claim) = self.db.claim_content_destruction(&sha256).await? else {
                    return Ok(false); // revived by a filing, or taken by another replica
                };
                // Its renditions first: once the page is stamped deleted nothing would
                // remember them.
                self.pages.delete_renditions(&sha256).await?;
                self.pages.delete(&sha256).await?;
                claim.mark_deleted().await?;
                Ok(true)
            })
            .buffer_unordered(DELETIONS_IN_FLIGHT)
            .collect()
            .await;
        let mut deleted = 0;
        for outcome in outcomes {
            deleted += usize::from(outcome?);
        }
        Ok(deleted)
    }

    async fn reachable_list(
        &self,
        grant: &Grant<'_>,
        name: &DestructionListName,
    ) -> Result<DestructionList, Error> {
        let list = self
            .db
            .destruction_list(name)
            .await?
            .ok_or_else(|| list_not_found(name))?;
        let reached = match grant.reach() {
            Reach::All => true,
            Reach::OrgUnit(scope) => list.org_unit.is_within(scope),
            Reach::Account(_) => false,
        };
        if reached {
            Ok(list)
        } else {
            Err(list_not_found(name))
        }
    }

    /// A proposed list within reach that this actor, not its proposer, may decide.
    async fn decidable_list(
        &self,
        grant: &Grant<'_>,
        name: &DestructionListName,
    ) -> Result<DestructionList, Error> {
        grant.require(Permission::ApproveDisposal)?;
        let list = self.reachable_list(grant, name).await?;
        if list.proposer_person == grant.actor.person {
            return Err(Error::PermissionDenied(format!(
                "destruction list {name} was proposed by you; another person must decide it"
            )));
        }
        if list.state != ListState::Proposed {
            return Err(Error::FailedPrecondition(format!(
                "destruction list {name} has already been decided"
            )));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountNumber, RetentionClass, RetentionTrigger};
    use chrono::TimeDelta;

    fn candidate() -> DisposalCandidate {
        DisposalCandidate {
            name: DocumentName {
                account: AccountNumber::parse("1201000001").unwrap(),
                document_id: Uuid::nil(),
            },
            org_unit: OrgUnitCode::parse("120101").unwrap(),
            document_type: DocumentTypeCode::parse("notice").unwrap(),
            confidentiality: Confidentiality::Public,
            title: Title::parse("notice").unwrap(),
            rule: RetentionRule {
                class: RetentionClass::TenYears,
                trigger: RetentionTrigger::Filing,
            },
            original_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            account_closed_at: None,
            page_count: 2,
            on_hold: false,
            destroyed: false,
            on_other_open_list: false,
        }
    }

    #[test]
    fn only_an_expired_document_nothing_keeps_may_go() {
        let unit = OrgUnitCode::parse("1201").unwrap();
        let expiry = DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .checked_add_months(chrono::Months::new(120))
            .unwrap();
        let document = candidate();
        assert!(document.disposable(&unit, expiry).is_ok());
        let early = document.disposable(&unit, expiry - TimeDelta::seconds(1));
        assert!(early.unwrap_err().contains("kept until"));
        for (kept, why) in [
            (
                DisposalCandidate {
                    on_hold: true,
                    ..candidate()
                },
                "legal hold",
            ),
            (
                DisposalCandidate {
                    destroyed: true,
                    ..candidate()
                },
                "already destroyed",
            ),
            (
                DisposalCandidate {
                    on_other_open_list: true,
                    ..candidate()
                },
                "another destruction list",
            ),
            (
                DisposalCandidate {
                    org_unit: OrgUnitCode::parse("130101").unwrap(),
                    ..candidate()
                },
                "not to 1201",
            ),
            (
                DisposalCandidate {
                    rule: RetentionRule {
                        class: RetentionClass::Permanent,
                        trigger: RetentionTrigger::Filing,
                    },
                    ..candidate()
                },
                "permanently",
            ),
        ] {
            let refused = kept.disposable(&unit, expiry + TimeDelta::days(365 * 100));
            assert!(refused.unwrap_err().contains(why), "{why}");
        }
    }

    #[test]
    fn an_approver_sees_every_document_it_destroys() {
        let policy = crate::domain::Policy::parse(
            r#"
            [roles.keeper]
            description = "x"
            permissions = ["approve-disposal"]
            scope = "org-unit"
            clearance = "internal"
            personal_data = "full"
            [systems.desk]
            description = "x"
            roles = ["keeper"]
            "#,
        )
        .unwrap();
        let actor = Actor {
            system: "desk".into(),
            person: "p".into(),
            role: "keeper".into(),
            org_unit: Some(OrgUnitCode::parse("1201").unwrap()),
            account: None,
            request_id: "r".into(),
        };
        let grant = policy.grant(&actor).unwrap();
        let proof = DisposalCandidate {
            document_type: DocumentTypeCode::parse("identity-proof").unwrap(),
            confidentiality: Confidentiality::Confidential,
            ..candidate()
        };
        let elsewhere = DisposalCandidate {
            org_unit: OrgUnitCode::parse("130101").unwrap(),
            ..candidate()
        };
        assert_eq!(out_of_sight(&grant, &[candidate()]), 0);
        assert_eq!(out_of_sight(&grant, &[candidate(), proof, elsewhere]), 2);
    }

    #[test]
    fn one_kept_document_refuses_the_whole_list_naming_it() {
        let unit = OrgUnitCode::parse("1201").unwrap();
        let late = DateTime::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::days(365 * 20);
        let held = DisposalCandidate {
            on_hold: true,
            ..candidate()
        };
        let error = disposable_all(&[candidate(), held], &unit, late).unwrap_err();
        let Error::FailedPrecondition(message) = error else {
            panic!("expected FailedPrecondition, got {error:?}");
        };
        assert!(message.starts_with("1 of 2 documents"), "{message}");
        assert!(message.contains("legal hold"), "{message}");
    }
}
