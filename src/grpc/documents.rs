//! DocumentService: filing documents and finding them again.

use tonic::{Request, Response, Status, Streaming};

use super::auth::actor;
use super::{optional, parse_timestamp, required, split_upload, timestamp};
use crate::domain::{
    Actor, Archive, BusinessProcess, ClientRequestId, Document, DocumentFilter, DocumentName,
    DocumentTypeCode, Error, FilingHeader, FilingPart, PageRequest, Sha256Digest, SourceSystem,
    Title, WorkOrderNumber, parse_customer_name,
};
use crate::proto::v1 as pb;
use crate::proto::v1::file_document_request::Part;

pub struct Documents {
    archive: Archive,
}

impl Documents {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::document_service_server::DocumentService for Documents {
    async fn file_document(
        &self,
        request: Request<Streaming<pb::FileDocumentRequest>>,
    ) -> Result<Response<pb::Document>, Status> {
        let actor = actor(&request)?;
        let (header, parts) = split_upload(
            request.into_inner(),
            "filing",
            |first: pb::FileDocumentRequest| match first.part {
                Some(Part::Header(header)) => Some(parse_header(header, &actor)),
                _ => None,
            },
            |message| parse_part(message.part),
        )
        .await?;
        let document = self.archive.file_document(&actor, header, parts).await?;
        tracing::info!(
            document = %document.name(),
            pages = document.pages.len(),
            bytes = document.size_bytes(),
            "document filed"
        );
        Ok(Response::new(to_proto(&document)))
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = DocumentName::parse("name", &request.name)?;
        let document = match super::versions::parse_version("version", request.version)? {
            None => self.archive.document(&actor, &name).await?,
            Some(version) => {
                self.archive
                    .document_version(&actor, &name, version)
                    .await?
            }
        };
        Ok(Response::new(to_proto(&document)))
    }

    async fn correct_document(
        &self,
        request: Request<Streaming<pb::CorrectDocumentRequest>>,
    ) -> Result<Response<pb::Document>, Status> {
        super::versions::correct_document(&self.archive, request).await
    }

    async fn list_document_versions(
        &self,
        request: Request<pb::ListDocumentVersionsRequest>,
    ) -> Result<Response<pb::ListDocumentVersionsResponse>, Status> {
        super::versions::list_document_versions(&self.archive, request).await
    }

    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let account = parse_customer_name("parent", &request.parent)?;
        let filter = DocumentFilter {
            document_type: optional(
                "document_type",
                &request.document_type,
                DocumentTypeCode::parse,
            )?,
            business_process: parse_process("business_process", request.business_process)?,
            work_order_number: optional(
                "work_order_number",
                &request.work_order_number,
                WorkOrderNumber::parse,
            )?,
            filed_after: parse_timestamp("filed_after", request.filed_after)?,
            filed_before: parse_timestamp("filed_before", request.filed_before)?,
        }
        .validate()?;
        let query = filter.describe(&account);
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .list_documents(&actor, &account, &filter, page_request)
            .await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            next_page_token: page.next_page_token(&query),
            documents: page.items.iter().map(to_proto).collect(),
        }))
    }
}

fn parse_header(header: pb::FilingHeader, actor: &Actor) -> Result<FilingHeader, Error> {
    Ok(FilingHeader {
        account: parse_customer_name("header.parent", &header.parent)?,
        document_type: required(
            "header.document_type",
            &header.document_type,
            DocumentTypeCode::parse,
        )?,
        business_process: parse_process("header.business_process", header.business_process)?
            .ok_or_else(|| Error::invalid("header.business_process", "is required"))?,
        work_order_number: optional(
            "header.work_order_number",
            &header.work_order_number,
            WorkOrderNumber::parse,
        )?,
        title: required("header.title", &header.title, Title::parse)?,
        source_system: match header.source_system.as_str() {
            "" => SourceSystem::parse(&actor.system)
                .map_err(|reason| Error::invalid("header.source_system", reason))?,
            text => required("header.source_system", text, SourceSystem::parse)?,
        },
        client_request_id: required(
            "header.client_request_id",
            &header.client_request_id,
            ClientRequestId::parse,
        )?,
    })
}

fn parse_part(part: Option<Part>) -> Result<FilingPart, Error> {
    match part {
        Some(Part::PageStart(start)) => Ok(FilingPart::PageStart {
            expected_sha256: optional("page_start.sha256", &start.sha256, Sha256Digest::parse_hex)?,
        }),
        Some(Part::Chunk(bytes)) => Ok(FilingPart::Chunk(bytes)),
        Some(Part::Header(_)) => Err(Error::invalid(
            "header",
            "a stream has exactly one header, as its first message",
        )),
        None => Err(Error::invalid(
            "part",
            "every message must carry a header, a page_start or a chunk",
        )),
    }
}

/// Parses a business process; `None` when unspecified.
pub(super) fn parse_process(
    field: &'static str,
    value: i32,
) -> Result<Option<BusinessProcess>, Error> {
    use pb::BusinessProcess as P;
    let process = P::try_from(value)
        .map_err(|_| Error::invalid(field, format!("{value} is not a business process")))?;
    Ok(Some(match process {
        P::Unspecified => return Ok(None),
        P::NewConnection => BusinessProcess::NewConnection,
        P::CapacityIncrease => BusinessProcess::CapacityIncrease,
        P::CapacityReduction => BusinessProcess::CapacityReduction,
        P::Transfer => BusinessProcess::Transfer,
        P::Rename => BusinessProcess::Rename,
        P::TariffClassChange => BusinessProcess::TariffClassChange,
        P::Suspension => BusinessProcess::Suspension,
        P::Closure => BusinessProcess::Closure,
        P::Inspection => BusinessProcess::Inspection,
    }))
}

pub(super) fn process_to_proto(process: BusinessProcess) -> pb::BusinessProcess {
    use pb::BusinessProcess as P;
    match process {
        BusinessProcess::NewConnection => P::NewConnection,
        BusinessProcess::CapacityIncrease => P::CapacityIncrease,
        BusinessProcess::CapacityReduction => P::CapacityReduction,
        BusinessProcess::Transfer => P::Transfer,
        BusinessProcess::Rename => P::Rename,
        BusinessProcess::TariffClassChange => P::TariffClassChange,
        BusinessProcess::Suspension => P::Suspension,
        BusinessProcess::Closure => P::Closure,
        BusinessProcess::Inspection => P::Inspection,
    }
}

pub(super) fn to_proto(document: &Document) -> pb::Document {
    let name = document.name();
    pb::Document {
        name: name.to_string(),
        document_id: document.id.to_string(),
        account_number: document.account.to_string(),
        document_type: document.document_type.to_string(),
        business_process: process_to_proto(document.business_process).into(),
        work_order_number: document
            .work_order_number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        title: document.title.to_string(),
        source_system: document.source_system.to_string(),
        client_request_id: document.client_request_id.to_string(),
        version: document.version as i32,
        pages: document
            .pages
            .iter()
            .map(|page| super::pages::to_proto(&name, page))
            .collect(),
        size_bytes: document.size_bytes() as i64,
        file_time: Some(timestamp(document.filed_at)),
        current_version: document.current_version as i32,
        customer_revision: document.customer_revision as i32,
        version_create_time: Some(timestamp(document.version_created_at)),
        destroy_time: document
            .destruction
            .as_ref()
            .map(|d| timestamp(d.destroyed_at)),
        destruction_list: document
            .destruction
            .as_ref()
            .map(|d| d.list.to_string())
            .unwrap_or_default(),
    }
}
