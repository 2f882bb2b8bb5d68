//! AuditService: querying and verifying the audit trail.

use tonic::{Request, Response, Status};

use crate::domain::{AccountNumber, Archive, AuditFilter, ChainedEvent, PageRequest};
use crate::grpc::convert::{optional, parse_timestamp, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct Audit {
    archive: Archive,
}

impl Audit {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for Audit {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let filter = AuditFilter {
            account: optional(
                "account_number",
                &request.account_number,
                AccountNumber::parse,
            )?,
            document_id: optional("document_id", &request.document_id, |id| {
                uuid::Uuid::parse_str(id).map_err(|_| format!("{id:?} is not a UUID"))
            })?,
            person: optional("person", &request.person, |p| Ok::<_, String>(p.to_owned()))?,
            action: optional("action", &request.action, |a| Ok::<_, String>(a.to_owned()))?,
            after: parse_timestamp("occurred_after", request.occurred_after)?,
            before: parse_timestamp("occurred_before", request.occurred_before)?,
        };
        let query = filter.describe();
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .audit_events(&actor, &filter, page_request)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            next_page_token: page.next_page_token(&query),
            events: page.items.iter().map(to_proto).collect(),
        }))
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        let actor = actor(&request)?;
        let verification = self.archive.verify_audit_chain(&actor).await?;
        let (first_broken_seq, reason) = verification.broken_at.unwrap_or((0, String::new()));
        Ok(Response::new(pb::VerifyAuditChainResponse {
            events_checked: verification.checked as i64,
            intact: first_broken_seq == 0,
            first_broken_seq,
            reason,
        }))
    }
}

fn to_proto(stored: &ChainedEvent) -> pb::AuditEvent {
    let event = &stored.event;
    pb::AuditEvent {
        seq: stored.seq,
        occur_time: Some(timestamp(event.occurred_at)),
        system: event.system.clone(),
        person: event.person.clone(),
        role: event.role.clone(),
        action: event.action.clone(),
        resource: event.resource.name.clone(),
        account_number: event
            .resource
            .account
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        document_id: event
            .resource
            .document_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        outcome: event.outcome.clone(),
        request_id: event.request_id.clone(),
        details: event.details.clone().unwrap_or_default(),
        hash: hex::encode(stored.hash),
    }
}
