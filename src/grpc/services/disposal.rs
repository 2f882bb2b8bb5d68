//! DisposalService: destruction lists, proposed by one person and decided by another.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, DestructionList, DestructionListName, DocumentName, Error, ListState,
    MAX_LIST_DOCUMENTS, OrgUnitCode, Reason,
};
use crate::grpc::convert::{expired_to_proto, optional, required, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct DisposalService {
    archive: Archive,
}

impl DisposalService {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::disposal_service_server::DisposalService for DisposalService {
    async fn propose_destruction_list(
        &self,
        request: Request<pb::ProposeDestructionListRequest>,
    ) -> Result<Response<pb::DestructionList>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let unit = required("org_unit_code", &request.org_unit_code, OrgUnitCode::parse)?;
        let reason = required("reason", &request.reason, Reason::parse)?;
        let documents = parse_documents(&request.documents)?;
        let list = self
            .archive
            .propose_destruction_list(&actor, &unit, reason, documents)
            .await?;
        Ok(Response::new(to_proto(&list)))
    }

    async fn approve_destruction_list(
        &self,
        request: Request<pb::ApproveDestructionListRequest>,
    ) -> Result<Response<pb::DestructionList>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = DestructionListName::parse("name", &request.name)?;
        let note = optional("note", &request.note, Reason::parse)?;
        let list = self
            .archive
            .approve_destruction_list(&actor, &name, note)
            .await?;
        tracing::info!(list = %name, documents = list.documents.len(), "documents destroyed");
        Ok(Response::new(to_proto(&list)))
    }

    async fn reject_destruction_list(
        &self,
        request: Request<pb::RejectDestructionListRequest>,
    ) -> Result<Response<pb::DestructionList>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = DestructionListName::parse("name", &request.name)?;
        let note = required("note", &request.note, Reason::parse)?;
        let list = self
            .archive
            .reject_destruction_list(&actor, &name, note)
            .await?;
        Ok(Response::new(to_proto(&list)))
    }

    async fn get_destruction_list(
        &self,
        request: Request<pb::GetDestructionListRequest>,
    ) -> Result<Response<pb::DestructionList>, Status> {
        let actor = actor(&request)?;
        let name = DestructionListName::parse("name", &request.into_inner().name)?;
        let list = self.archive.destruction_list(&actor, &name).await?;
        Ok(Response::new(to_proto(&list)))
    }
}

/// 1 to MAX_LIST_DOCUMENTS distinct document names.
fn parse_documents(names: &[String]) -> Result<Vec<DocumentName>, Error> {
    if names.is_empty() {
        return Err(Error::invalid("documents", "name at least one document"));
    }
    if names.len() > MAX_LIST_DOCUMENTS {
        return Err(Error::invalid(
            "documents",
            format!(
                "a list holds at most {MAX_LIST_DOCUMENTS} documents, got {}; split it",
                names.len()
            ),
        ));
    }
    let mut documents: Vec<DocumentName> = Vec::with_capacity(names.len());
    for name in names {
        let document = DocumentName::parse("documents", name)?;
        if documents.contains(&document) {
            return Err(Error::invalid(
                "documents",
                format!("{document} is named twice"),
            ));
        }
        documents.push(document);
    }
    Ok(documents)
}

fn to_proto(list: &DestructionList) -> pb::DestructionList {
    let decision = list.decision.as_ref();
    pb::DestructionList {
        name: list.name.to_string(),
        org_unit_code: list.org_unit.as_str().to_owned(),
        reason: list.reason.to_string(),
        state: match list.state {
            ListState::Proposed => pb::DestructionListState::Proposed,
            ListState::Destroyed => pb::DestructionListState::Destroyed,
            ListState::Rejected => pb::DestructionListState::Rejected,
        }
        .into(),
        proposed_by: list.proposed_by.clone(),
        propose_time: Some(timestamp(list.propose_time)),
        decided_by: decision.map(|d| d.decided_by.clone()).unwrap_or_default(),
        decide_time: decision.map(|d| timestamp(d.time)),
        decision_note: decision
            .and_then(|d| d.note.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        documents: list.documents.iter().map(expired_to_proto).collect(),
    }
}
