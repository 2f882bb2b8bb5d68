//! CustomerService's history RPCs: ListCustomerRevisions and GetCustomerRevision.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, CustomerRevision, PageRequest, RevisionCursor, RevisionName, customer_name,
    parse_customer_name,
};
use crate::grpc::convert::{customer_to_proto, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub(super) async fn list_customer_revisions(
    archive: &Archive,
    request: Request<pb::ListCustomerRevisionsRequest>,
) -> Result<Response<pb::ListCustomerRevisionsResponse>, Status> {
    let actor = actor(&request)?;
    let request = request.into_inner();
    let account = parse_customer_name("parent", &request.parent)?;
    let query = format!("revisions of {}", customer_name(&account));
    let page_request =
        PageRequest::<RevisionCursor>::parse(request.page_size, &request.page_token, &query)?;
    let page = archive
        .list_customer_revisions(&actor, &account, page_request)
        .await?;
    Ok(Response::new(pb::ListCustomerRevisionsResponse {
        next_page_token: page.next_page_token(&query),
        revisions: page.items.iter().map(revision_to_proto).collect(),
    }))
}

pub(super) async fn get_customer_revision(
    archive: &Archive,
    request: Request<pb::GetCustomerRevisionRequest>,
) -> Result<Response<pb::CustomerRevision>, Status> {
    let actor = actor(&request)?;
    let name = RevisionName::parse("name", &request.into_inner().name)?;
    let revision = archive.customer_revision(&actor, &name).await?;
    Ok(Response::new(revision_to_proto(&revision)))
}

fn revision_to_proto(revision: &CustomerRevision) -> pb::CustomerRevision {
    pb::CustomerRevision {
        name: revision.name().to_string(),
        revision: revision.customer.revision as i32,
        customer: Some(customer_to_proto(&revision.customer)),
        valid_from: Some(timestamp(revision.valid_from)),
        valid_until: revision.valid_until.map(timestamp),
        changed_by: revision.changed_by.clone(),
    }
}
