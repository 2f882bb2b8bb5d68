//! Declassification needs two people. Retyping a document as a type of lower confidentiality
//! (an identity proof as a public notice) makes it readable by every role cleared for the lower
//! level — the payment channels, the customer — so one person cannot do it alone: another
//! person with `approve-declassification` approves that change of that version first, and the
//! correction uses the approval as it commits. The same rule as disposal's, in the other
//! direction: what one person could misfile, one person must not expose.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::document::document_resource;
use crate::domain::names::DocumentName;
use crate::domain::records::retention::{Reason, acted_by};
use crate::domain::{
    Actor, Archive, Confidentiality, Document, DocumentTypeCode, Error, Permission,
};

/// How long an approval waits for its correction: long enough for the corrector's next shift,
/// short enough that a forgotten approval does not lie in wait.
pub const APPROVAL_LIFETIME: Duration = Duration::days(7);

/// A second person's approval of one declassifying correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declassification {
    pub id: Uuid,
    pub document: DocumentName,
    /// The version the approved correction must be made against.
    pub version: u32,
    pub from_document_type: DocumentTypeCode,
    pub document_type: DocumentTypeCode,
    pub reason: Reason,
    /// `system/person`.
    pub approved_by: String,
    /// The person alone: the corrector must be someone else, whatever system they use.
    pub approver_person: String,
    pub approve_time: DateTime<Utc>,
    pub expire_time: DateTime<Utc>,
    /// The version the correction that used it made; `None` while unused.
    pub used_in_version: Option<u32>,
}

impl Declassification {
    /// `customers/{account}/documents/{id}/declassifications/{approval}`.
    pub fn name(&self) -> String {
        format!("{}/declassifications/{}", self.document, self.id)
    }
}

/// What an approver asks for: that `document`, now at `expected_version`, may be retyped as
/// `document_type`.
#[derive(Debug, Clone)]
pub struct DeclassificationRequest {
    pub document: DocumentName,
    pub expected_version: u32,
    pub document_type: DocumentTypeCode,
    pub reason: Reason,
}

impl Archive {
    /// Approves in advance a correction that lowers a document's confidentiality.
    pub async fn approve_declassification(
        &self,
        actor: &Actor,
        request: DeclassificationRequest,
    ) -> Result<Declassification, Error> {
        let resource = document_resource(&request.document);
        self.audited_change(
            actor,
            "ApproveDeclassification",
            resource,
            |event| async move {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ApproveDeclassification)?;
                let name = &request.document;
                let current = self.visible_document(&grant, name).await?;
                if current.destruction.is_some() {
                    return Err(Error::FailedPrecondition(format!(
                        "document {name} was destroyed: there is nothing to declassify"
                    )));
                }
                if current.version != request.expected_version {
                    return Err(Error::Aborted(format!(
                        "document {name} is at version {}, not {}: read it again and approve what \
                     it is now",
                        current.version, request.expected_version
                    )));
                }
                let target = self.document_type(&request.document_type).await?;
                if !grant.sees(&target.code, target.confidentiality) {
                    return Err(Error::PermissionDenied(format!(
                        "role {:?} may not see documents of type {}",
                        actor.role, target.code
                    )));
                }
                if target.confidentiality >= current.confidentiality {
                    return Err(Error::invalid(
                        "document_type",
                        format!(
                            "{} is not less confidential than {} ({:?} vs {:?}): a correction to \
                         it needs no approval",
                            target.code,
                            current.document_type,
                            target.confidentiality,
                            current.confidentiality
                        ),
                    ));
                }
                let now = self.clock.now();
                let approval = Declassification {
                    id: Uuid::now_v7(),
                    document: name.clone(),
                    version: current.version,
                    from_document_type: current.document_type.clone(),
                    document_type: target.code.clone(),
                    reason: request.reason,
                    approved_by: acted_by(actor),
                    approver_person: actor.person.clone(),
                    approve_time: now,
                    expire_time: now + APPROVAL_LIFETIME,
                    used_in_version: None,
                };
                let event = event.with_details(serde_json::json!({
                    "declassification": approval.name(),
                    "version": approval.version,
                    "from_document_type": approval.from_document_type.as_str(),
                    "document_type": approval.document_type.as_str(),
                    "reason": approval.reason.as_str(),
                }));
                self.db.insert_declassification(&approval, &event).await?;
                Ok(approval)
            },
        )
        .await
    }

    /// For a correction of `current` to a type of `confidentiality`: `None` when it does not
    /// lower the document's confidentiality, else the approval it uses — one by another
    /// person, for this version and this type, not used and not expired.
    pub(crate) async fn declassification_for(
        &self,
        actor: &Actor,
        current: &Document,
        document_type: &DocumentTypeCode,
        confidentiality: Confidentiality,
    ) -> Result<Option<Declassification>, Error> {
        if confidentiality >= current.confidentiality {
            return Ok(None);
        }
        let name = current.name();
        let approvals = self
            .db
            .usable_declassifications(&name, current.version, document_type, self.clock.now())
            .await?;
        if let Some(approval) = approvals
            .iter()
            .find(|approval| approval.approver_person != actor.person)
        {
            return Ok(Some(approval.clone()));
        }
        let own = if approvals.is_empty() {
            String::new()
        } else {
            " (the only approval is your own)".to_owned()
        };
        Err(Error::FailedPrecondition(format!(
            "retyping {name} from {} to {document_type} lowers its confidentiality ({:?} to \
             {confidentiality:?}) and needs a second person{own}: someone else with \
             approve-declassification must first call ApproveDeclassification for version {} \
             and document_type {document_type}",
            current.document_type, current.confidentiality, current.version
        )))
    }
}
