//! SearchService: the finding aids, searching documents across archives and customers across
//! accounts.

use tonic::{Request, Response, Status};

use crate::domain::{
    AccountPrefix, Archive, CustomerSearch, DocumentOrder, DocumentSearch, DocumentTypeCode, Error,
    LegacyReference, OrgUnitCode, PageRequest, SearchText, SourceSystem, WorkOrderNumber,
};
use crate::grpc::convert::{
    customer_to_proto, document_to_proto, optional, parse_class, parse_process, parse_status,
    parse_timestamp, parse_view,
};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct Search {
    archive: Archive,
}

impl Search {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::search_service_server::SearchService for Search {
    async fn search_documents(
        &self,
        request: Request<pb::SearchDocumentsRequest>,
    ) -> Result<Response<pb::SearchDocumentsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let search = parse_document_search(&request)?;
        let view = parse_view("view", request.view)?;
        let query = search.describe();
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .search_documents(&actor, &search, view, page_request)
            .await?;
        Ok(Response::new(pb::SearchDocumentsResponse {
            next_page_token: page.next_page_token(&query),
            documents: page.items.iter().map(document_to_proto).collect(),
        }))
    }

    async fn search_customers(
        &self,
        request: Request<pb::SearchCustomersRequest>,
    ) -> Result<Response<pb::SearchCustomersResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let search = parse_customer_search(&request)?;
        let query = self.archive.describe_customer_search(&search);
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .search_customers(&actor, &search, page_request)
            .await?;
        Ok(Response::new(pb::SearchCustomersResponse {
            next_page_token: page.next_page_token(&query),
            customers: page
                .items
                .iter()
                .map(|found| pb::CustomerMatch {
                    customer: Some(customer_to_proto(&found.customer)),
                    former_holder: found.former_holder,
                })
                .collect(),
        }))
    }
}

fn parse_customer_search(request: &pb::SearchCustomersRequest) -> Result<CustomerSearch, Error> {
    let text = |text: &str| (!text.trim().is_empty()).then(|| text.to_owned());
    CustomerSearch {
        account_prefix: optional(
            "account_number_prefix",
            &request.account_number_prefix,
            AccountPrefix::parse,
        )?,
        name: optional("name", &request.name, SearchText::parse)?,
        address: optional("address", &request.address, SearchText::parse)?,
        id_number: text(&request.id_number),
        phone: text(&request.phone),
        org_unit: optional("org_unit", &request.org_unit, OrgUnitCode::parse)?,
        include_former_holders: request.include_former_holders,
    }
    .validate()
}

fn parse_document_search(request: &pb::SearchDocumentsRequest) -> Result<DocumentSearch, Error> {
    let document_types = request
        .document_types
        .iter()
        .map(|code| {
            DocumentTypeCode::parse(code).map_err(|reason| Error::invalid("document_types", reason))
        })
        .collect::<Result<_, _>>()?;
    let business_processes = request
        .business_processes
        .iter()
        .map(|value| {
            parse_process("business_processes", *value)?
                .ok_or_else(|| Error::invalid("business_processes", "must not be UNSPECIFIED"))
        })
        .collect::<Result<_, _>>()?;
    let order = match pb::DocumentOrder::try_from(request.order_by) {
        Ok(pb::DocumentOrder::Unspecified | pb::DocumentOrder::FileTime) => DocumentOrder::FileTime,
        Ok(pb::DocumentOrder::Reference) => DocumentOrder::Reference,
        Err(_) => {
            return Err(Error::invalid(
                "order_by",
                format!("{} is not a document order", request.order_by),
            ));
        }
    };
    DocumentSearch {
        org_unit: optional("org_unit", &request.org_unit, OrgUnitCode::parse)?,
        document_types,
        business_processes,
        work_order_number: optional(
            "work_order_number",
            &request.work_order_number,
            WorkOrderNumber::parse,
        )?,
        filed_after: parse_timestamp("filed_after", request.filed_after)?,
        filed_before: parse_timestamp("filed_before", request.filed_before)?,
        original_after: parse_timestamp("original_after", request.original_after)?,
        original_before: parse_timestamp("original_before", request.original_before)?,
        customer_class: parse_class("customer_class", request.customer_class)?,
        customer_status: parse_status("customer_status", request.customer_status)?,
        source_system: optional("source_system", &request.source_system, SourceSystem::parse)?,
        legacy_reference: optional(
            "legacy_reference",
            &request.legacy_reference,
            LegacyReference::parse,
        )?,
        order,
    }
    .validate()
}
