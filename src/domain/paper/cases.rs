//! The custodian's acts on one paper: record where it is, sign it out and in, report it lost,
//! read it and its history. Each needs manage-paper-custody and a document within reach, and
//! each change commits with its audit event.

use uuid::Uuid;

use super::custody::{
    Paper, PaperCondition, PaperEvent, PaperHolder, PaperLocation, PaperLoss, PaperPlace,
    PaperState, SignIn, SignOut,
};
use crate::domain::documents::document::document_resource;
use crate::domain::names::{DocumentName, LoanName};
use crate::domain::records::retention::acted_by;
use crate::domain::{Actor, Archive, Error, Grant, LoanNote, LoanState, Permission};

/// A sign-out as a custodian asks for it.
#[derive(Debug, Clone)]
pub struct SignOutRequest {
    pub document: DocumentName,
    pub holder: PaperHolder,
    pub due: chrono::DateTime<chrono::Utc>,
    pub loan: Option<LoanName>,
}

impl Archive {
    /// Records where a document's paper is kept (`None`: it has no paper), as a new revision.
    pub async fn set_paper_location(
        &self,
        actor: &Actor,
        document: &DocumentName,
        place: Option<PaperPlace>,
        reason: LoanNote,
    ) -> Result<Paper, Error> {
        let resource = document_resource(document);
        self.audited_change(actor, "SetPaperLocation", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            self.check_custody(&grant, document).await?;
            let location = PaperLocation {
                document: document.clone(),
                revision: 0,
                place,
                set_by: acted_by(actor),
                set_time: self.clock.now(),
                reason,
            };
            let event = event.with_details(serde_json::json!({
                "room": location.place.as_ref().map(|p| p.room.as_str()),
                "shelf": location.place.as_ref().map(|p| p.shelf.as_str()),
                "box": location.place.as_ref().and_then(|p| p.box_number.as_ref()).map(|b| b.as_str()),
                "item": location.place.as_ref().and_then(|p| p.item.as_ref()).map(|i| i.as_str()),
                "exists_on_paper": location.place.is_some(),
                "reason": location.reason.as_str(),
            }));
            self.db.set_paper_location(&location, &event).await?;
            self.present_paper(&grant, self.recorded_paper(document).await?)
        })
        .await
    }

    /// Returns a document's paper.
    pub async fn paper(&self, actor: &Actor, document: &DocumentName) -> Result<Paper, Error> {
        self.audited(actor, "GetPaper", document_resource(document), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            self.check_custody(&grant, document).await?;
            self.present_paper(&grant, self.recorded_paper(document).await?)
        })
        .await
    }

    /// Signs a paper out to a named person; it must be in, and a loan named must lend the
    /// document and be approved.
    pub async fn sign_out_paper(
        &self,
        actor: &Actor,
        request: SignOutRequest,
    ) -> Result<Paper, Error> {
        let resource = document_resource(&request.document);
        self.audited_change(actor, "SignOutPaper", resource, |event| async move {
            let document = &request.document;
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            self.check_custody(&grant, document).await?;
            let paper = self.recorded_paper(document).await?;
            paper.check_can_sign_out()?;
            let now = self.clock.now();
            if request.due <= now {
                return Err(Error::invalid(
                    "due_time",
                    format!("must be after now ({now})"),
                ));
            }
            if let Some(name) = request.loan {
                let loan = self
                    .db
                    .loan(name.0)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("loan {name} not found")))?;
                let in_force = matches!(loan.state(now), LoanState::Approved | LoanState::Active);
                if !in_force || loan.lent_item(document).is_none() {
                    return Err(Error::FailedPrecondition(format!(
                        "loan {name} does not lend {document} now ({:?}): sign the paper out \
                         against an approved loan that lends it, or without a loan",
                        loan.state(now)
                    )));
                }
            }
            let sign_out = SignOut {
                id: Uuid::now_v7(),
                document: document.clone(),
                holder: request.holder,
                due: request.due,
                loan: request.loan,
                by: acted_by(actor),
                time: now,
                sign_in: None,
            };
            let event = event.with_details(serde_json::json!({
                "sign_out": sign_out.name(),
                "holder": sign_out.holder.name.as_str(),
                "org_unit": sign_out.holder.org_unit.as_ref().map(|u| u.as_str()),
                "phone": sign_out.holder.contact.as_ref().map(|c| c.as_str()),
                "due": sign_out.due,
                "loan": sign_out.loan.map(|loan| loan.to_string()),
            }));
            if !self.db.insert_sign_out(&sign_out, &event).await? {
                return Err(Error::FailedPrecondition(format!(
                    "the paper of {document} was signed out meanwhile: it cannot be signed out \
                     twice"
                )));
            }
            self.present_paper(&grant, self.recorded_paper(document).await?)
        })
        .await
    }

    /// Signs a paper back in with its condition.
    pub async fn sign_in_paper(
        &self,
        actor: &Actor,
        document: &DocumentName,
        condition: PaperCondition,
        note: Option<LoanNote>,
    ) -> Result<Paper, Error> {
        let resource = document_resource(document);
        self.audited_change(actor, "SignInPaper", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            self.check_custody(&grant, document).await?;
            let sign_in = SignIn {
                by: acted_by(actor),
                time: self.clock.now(),
                condition,
                note,
            };
            let event = event.with_details(serde_json::json!({
                "condition": format!("{condition:?}"),
                "note": sign_in.note.as_ref().map(LoanNote::as_str),
            }));
            if !self.db.close_sign_out(document, &sign_in, &event).await? {
                return Err(Error::FailedPrecondition(format!(
                    "the paper of {document} is not out"
                )));
            }
            self.present_paper(&grant, self.recorded_paper(document).await?)
        })
        .await
    }

    /// Marks a paper lost, reported by the caller.
    pub async fn report_paper_lost(
        &self,
        actor: &Actor,
        document: &DocumentName,
        note: LoanNote,
    ) -> Result<Paper, Error> {
        let resource = document_resource(document);
        self.audited_change(actor, "ReportPaperLost", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            self.check_custody(&grant, document).await?;
            let paper = self.recorded_paper(document).await?;
            if paper.state() == PaperState::None {
                return Err(Error::FailedPrecondition(format!(
                    "{document} has no paper original (born digital)"
                )));
            }
            let loss = PaperLoss {
                by: acted_by(actor),
                time: self.clock.now(),
                note,
            };
            let event = event.with_details(serde_json::json!({ "note": loss.note.as_str() }));
            if !self.db.insert_loss(document, &loss, &event).await? {
                return Err(Error::FailedPrecondition(format!(
                    "the paper of {document} was reported lost already"
                )));
            }
            self.present_paper(&grant, self.recorded_paper(document).await?)
        })
        .await
    }

    /// The history of one paper, oldest first.
    pub async fn paper_history(
        &self,
        actor: &Actor,
        document: &DocumentName,
    ) -> Result<Vec<PaperEvent>, Error> {
        self.audited(
            actor,
            "ListPaperHistory",
            document_resource(document),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                self.check_custody(&grant, document).await?;
                let (locations, sign_outs, loss) = self.db.paper_history(document).await?;
                let personal_data = grant.personal_data();
                let mut events: Vec<PaperEvent> =
                    locations.into_iter().map(PaperEvent::Located).collect();
                for sign_out in sign_outs {
                    let sign_out = sign_out.presented(personal_data);
                    events.push(PaperEvent::SignedOut(sign_out.clone()));
                    if sign_out.sign_in.is_some() {
                        events.push(PaperEvent::SignedIn(sign_out));
                    }
                }
                events.extend(loss.map(PaperEvent::Lost));
                // Stable: events of one instant keep the order they happened in.
                events.sort_by_key(PaperEvent::time);
                Ok(events)
            },
        )
        .await
    }

    /// Fails unless the grant keeps this document's paper: manage-paper-custody and the
    /// document within reach (else `NotFound`, as for documents).
    async fn check_custody(&self, grant: &Grant<'_>, document: &DocumentName) -> Result<(), Error> {
        grant.require(Permission::ManagePaperCustody)?;
        self.visible_document(grant, document).await?;
        Ok(())
    }

    /// The paper recorded for a document, or `NotFound` when none was ever recorded.
    async fn recorded_paper(&self, document: &DocumentName) -> Result<Paper, Error> {
        self.db
            .papers_of(&[document.document_id])
            .await?
            .into_iter()
            .map(|(paper, _)| paper)
            .next()
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no paper location is recorded for {document}: SetPaperLocation first"
                ))
            })
    }

    /// A paper as the grant may read it: the holder's contact masked for masked roles.
    fn present_paper(&self, grant: &Grant<'_>, mut paper: Paper) -> Result<Paper, Error> {
        paper.sign_out = paper
            .sign_out
            .map(|sign_out| sign_out.presented(grant.personal_data()));
        Ok(paper)
    }
}
