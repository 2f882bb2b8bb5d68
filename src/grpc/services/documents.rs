//! DocumentService: filing documents and finding them again.

use tonic::{Request, Response, Status, Streaming};

use crate::domain::{
    Actor, Archive, ClientRequestId, Document, DocumentFilter, DocumentName, DocumentTypeCode,
    DocumentView, Error, Filing, FilingHeader, FilingPart, PageRequest, Sha256Digest, SourceSystem,
    Title, WorkOrderNumber, parse_customer_name,
};
use crate::grpc::convert::{
    document_to_proto, optional, parse_legacy_origin, parse_process, parse_timestamp,
    parse_version, parse_view, required,
};
use crate::grpc::middleware::actor;
use crate::grpc::upload::split_upload;
use crate::proto::v1 as pb;
use crate::proto::v1::file_document_request::Part;

/// The response metadata of FileDocument saying whether the call filed (`new`) or answered a
/// retry with the first filing's document (`retry`).
pub const FILING_OUTCOME: &str = "x-custodian-filing";

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
            &self.archive,
            &actor,
            "FileDocument",
            request.into_inner(),
            "filing",
            |first: pb::FileDocumentRequest| match first.part {
                Some(Part::Header(header)) => Some(parse_header(header, &actor)),
                _ => None,
            },
            |message| parse_part(message.part),
        )
        .await?;
        let filing = self.archive.file_document(&actor, header, parts).await?;
        if let Filing::New(document) = &filing {
            // Counted here, so a retry answered with the first filing is not counted twice.
            crate::metrics::document_filed(document.pages.len() as u64, document.size_bytes);
            tracing::info!(
                document = %document.name(),
                pages = document.pages.len(),
                bytes = document.size_bytes,
                "document filed"
            );
        }
        let outcome = match &filing {
            Filing::New(_) => "new",
            Filing::Retry(_) => "retry",
        };
        let mut response = Response::new(document_to_proto(filing.document()));
        // Tells an importer whether this call filed the document or found an earlier one.
        response.metadata_mut().insert(
            FILING_OUTCOME,
            tonic::metadata::MetadataValue::from_static(outcome),
        );
        Ok(response)
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = DocumentName::parse("name", &request.name)?;
        let view = parse_view("view", request.view)?;
        let document = match parse_version("version", request.version)? {
            None => self.archive.document(&actor, &name).await?,
            Some(version) => {
                self.archive
                    .document_version(&actor, &name, version)
                    .await?
            }
        };
        Ok(Response::new(document_in_view(&document, view)))
    }

    async fn batch_get_documents(
        &self,
        request: Request<pb::BatchGetDocumentsRequest>,
    ) -> Result<Response<pb::BatchGetDocumentsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let view = parse_view("view", request.view)?;
        let names = request
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                DocumentName::parse("names", name)
                    .map_err(|error| Error::invalid("names", format!("names[{i}]: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let documents = self.archive.documents(&actor, &names).await?;
        Ok(Response::new(pb::BatchGetDocumentsResponse {
            documents: documents
                .iter()
                .map(|document| document_in_view(document, view))
                .collect(),
        }))
    }

    async fn correct_document(
        &self,
        request: Request<Streaming<pb::CorrectDocumentRequest>>,
    ) -> Result<Response<pb::Document>, Status> {
        super::versions::correct_document(&self.archive, request).await
    }

    async fn approve_declassification(
        &self,
        request: Request<pb::ApproveDeclassificationRequest>,
    ) -> Result<Response<pb::Declassification>, Status> {
        super::versions::approve_declassification(&self.archive, request).await
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
        let view = parse_view("view", request.view)?;
        let query = filter.describe(&account);
        let page_request = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self
            .archive
            .list_documents(&actor, &account, &filter, view, page_request)
            .await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            next_page_token: page.next_page_token(&query),
            documents: page.items.iter().map(document_to_proto).collect(),
        }))
    }
}

/// The document as `view` shows it: the basic view leaves the pages out.
fn document_in_view(document: &Document, view: DocumentView) -> pb::Document {
    let mut message = document_to_proto(document);
    if view == DocumentView::Basic {
        message.pages.clear();
    }
    message
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
        legacy: parse_legacy_origin(header.legacy_origin)?,
        paper: header
            .paper_location
            .map(|location| {
                super::paper::parse_place_fields(
                    location,
                    [
                        "header.paper_location.room",
                        "header.paper_location.shelf",
                        "header.paper_location.box",
                        "header.paper_location.item",
                    ],
                )
            })
            .transpose()?,
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

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::grpc::proptests::{assert_clean_refusal, text};
    use crate::testing::proptest_config;

    fn sha256_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[0-9a-fA-F]{64}",
            "[0-9a-fA-F]{0,70}",
            text()
        ]
    }

    fn message() -> impl Strategy<Value = pb::FileDocumentRequest> {
        let part = prop_oneof![
            sha256_text().prop_map(|sha256| Part::PageStart(pb::PageStart { sha256 })),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| Part::Chunk(bytes.into())),
            (text(), text(), any::<i32>()).prop_map(|(parent, title, business_process)| {
                Part::Header(pb::FilingHeader {
                    parent,
                    title,
                    business_process,
                    ..Default::default()
                })
            }),
        ];
        prop::option::of(part).prop_map(|part| pb::FileDocumentRequest { part })
    }

    /// Bytes off the wire: anything, or a real message with a few bytes changed.
    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            (
                message(),
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)
            )
                .prop_map(|(message, changes)| {
                    let mut bytes = message.encode_to_vec();
                    for (index, byte) in changes {
                        if !bytes.is_empty() {
                            let at = index.index(bytes.len());
                            bytes[at] = byte;
                        }
                    }
                    bytes
                }),
        ]
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// A FileDocument message after the header decodes or fails without panicking; a
        /// decoded one re-encodes to itself and becomes the part it carries or a clean refusal.
        #[test]
        fn proptest_filing_messages_decode_to_their_part_or_refuse_cleanly(bytes in wire_bytes()) {
            let Ok(message) = pb::FileDocumentRequest::decode(bytes.as_slice()) else {
                return Ok(());
            };
            let again = pb::FileDocumentRequest::decode(message.encode_to_vec().as_slice()).unwrap();
            prop_assert_eq!(&again, &message);
            match (message.part.clone(), parse_part(message.part)) {
                (Some(Part::PageStart(start)), Ok(FilingPart::PageStart { expected_sha256 })) => {
                    prop_assert_eq!(
                        expected_sha256.map(|digest| digest.to_hex()),
                        (!start.sha256.is_empty()).then(|| start.sha256.to_lowercase())
                    );
                }
                (Some(Part::Chunk(sent)), Ok(FilingPart::Chunk(received))) => {
                    prop_assert_eq!(sent, received);
                }
                (Some(Part::PageStart(_)), Err(error)) => {
                    assert_clean_refusal(error, "page_start.sha256")?;
                }
                (Some(Part::Header(_)), Err(error)) => assert_clean_refusal(error, "header")?,
                (None, Err(error)) => assert_clean_refusal(error, "part")?,
                (sent, parsed) => prop_assert!(false, "{sent:?} became {parsed:?}"),
            }
        }
    }
}
