//! RetentionService: retention of documents, legal holds and appraisal.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, DocumentName, DocumentTypeCode, HoldTarget, LegalHold, LegalHoldName, OrgUnitCode,
    PageRequest, Reason, Retention, parse_customer_name,
};
use crate::grpc::convert::{
    expired_to_proto, optional, required, retention_class, retention_trigger, timestamp,
};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct RetentionService {
    archive: Archive,
}

impl RetentionService {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::retention_service_server::RetentionService for RetentionService {
    async fn get_retention(
        &self,
        request: Request<pb::GetRetentionRequest>,
    ) -> Result<Response<pb::Retention>, Status> {
        let actor = actor(&request)?;
        let name = DocumentName::parse("name", &request.into_inner().name)?;
        let retention = self.archive.retention(&actor, &name).await?;
        Ok(Response::new(retention_to_proto(&retention)))
    }

    async fn place_legal_hold(
        &self,
        request: Request<pb::PlaceLegalHoldRequest>,
    ) -> Result<Response<pb::LegalHold>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let target = HoldTarget::parse("parent", &request.parent)?;
        let reason = required("reason", &request.reason, Reason::parse)?;
        let hold = self
            .archive
            .place_legal_hold(&actor, target, reason)
            .await?;
        Ok(Response::new(hold_to_proto(&hold)))
    }

    async fn release_legal_hold(
        &self,
        request: Request<pb::ReleaseLegalHoldRequest>,
    ) -> Result<Response<pb::LegalHold>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LegalHoldName::parse("name", &request.name)?;
        let reason = required("reason", &request.reason, Reason::parse)?;
        let hold = self
            .archive
            .release_legal_hold(&actor, &name, reason)
            .await?;
        Ok(Response::new(hold_to_proto(&hold)))
    }

    async fn list_legal_holds(
        &self,
        request: Request<pb::ListLegalHoldsRequest>,
    ) -> Result<Response<pb::ListLegalHoldsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let account = parse_customer_name("parent", &request.parent)?;
        let holds = self
            .archive
            .legal_holds(&actor, &account, request.show_released)
            .await?;
        Ok(Response::new(pb::ListLegalHoldsResponse {
            legal_holds: holds.iter().map(hold_to_proto).collect(),
        }))
    }

    async fn list_expired_documents(
        &self,
        request: Request<pb::ListExpiredDocumentsRequest>,
    ) -> Result<Response<pb::ListExpiredDocumentsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let unit = required("org_unit_code", &request.org_unit_code, OrgUnitCode::parse)?;
        let document_type = optional(
            "document_type",
            &request.document_type,
            DocumentTypeCode::parse,
        )?;
        let query = format!(
            "expired?org_unit={}&type={}",
            unit.as_str(),
            request.document_type
        );
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .expired_documents(&actor, &unit, document_type.as_ref(), page_request)
            .await?;
        Ok(Response::new(pb::ListExpiredDocumentsResponse {
            next_page_token: page.next_page_token(&query),
            documents: page.items.iter().map(expired_to_proto).collect(),
        }))
    }
}

fn retention_to_proto(retention: &Retention) -> pb::Retention {
    pb::Retention {
        document: retention.document.to_string(),
        retention_class: retention_class(retention.rule.class).into(),
        trigger: retention_trigger(retention.rule.trigger).into(),
        start_time: retention.start_time.map(timestamp),
        expire_time: retention.expire_time.map(timestamp),
        expired: retention.expired,
        legal_holds: retention.holds.iter().map(ToString::to_string).collect(),
        destruction_list: retention
            .destruction_list
            .map(|list| list.to_string())
            .unwrap_or_default(),
    }
}

fn hold_to_proto(hold: &LegalHold) -> pb::LegalHold {
    let release = hold.release.as_ref();
    pb::LegalHold {
        name: hold.name.to_string(),
        target: hold.target.to_string(),
        reason: hold.reason.to_string(),
        placed_by: hold.placed_by.clone(),
        place_time: Some(timestamp(hold.place_time)),
        released_by: release.map(|r| r.released_by.clone()).unwrap_or_default(),
        release_reason: release.map(|r| r.reason.to_string()).unwrap_or_default(),
        release_time: release.map(|r| timestamp(r.time)),
    }
}
