//! DocumentService's version RPCs: CorrectDocument (client streaming) and
//! ListDocumentVersions; GetDocument and ReadPage parse their `version` here too.

use tonic::{Request, Response, Status, Streaming};

use crate::domain::{
    Archive, CorrectionHeader, CorrectionPart, CorrectionReason, DeclassificationRequest,
    DocumentChanges, DocumentName, DocumentTypeCode, DocumentVersion, Error, Reason, Sha256Digest,
    Title, WorkOrderNumber,
};
use crate::grpc::convert::{
    document_to_proto, optional, parse_process, parse_version, process_to_proto, required,
    timestamp,
};
use crate::grpc::middleware::actor;
use crate::grpc::upload::split_upload;
use crate::proto::v1 as pb;
use crate::proto::v1::correct_document_request::Part;

pub(super) async fn correct_document(
    archive: &Archive,
    request: Request<Streaming<pb::CorrectDocumentRequest>>,
) -> Result<Response<pb::Document>, Status> {
    let actor = actor(&request)?;
    let (header, parts) = split_upload(
        archive,
        &actor,
        "CorrectDocument",
        request.into_inner(),
        "correction",
        |first: pb::CorrectDocumentRequest| match first.part {
            Some(Part::Header(header)) => Some(parse_header(header)),
            _ => None,
        },
        |message| parse_part(message.part),
    )
    .await?;
    let document = archive.correct_document(&actor, header, parts).await?;
    tracing::info!(
        document = %document.name(),
        version = document.version,
        pages = document.pages.len(),
        "document corrected"
    );
    Ok(Response::new(document_to_proto(&document)))
}

pub(super) async fn approve_declassification(
    archive: &Archive,
    request: Request<pb::ApproveDeclassificationRequest>,
) -> Result<Response<pb::Declassification>, Status> {
    let actor = actor(&request)?;
    let request = request.into_inner();
    let request = DeclassificationRequest {
        document: DocumentName::parse("name", &request.name)?,
        expected_version: parse_version("expected_version", request.expected_version)?.ok_or_else(
            || Error::invalid("expected_version", "is required: the version you approve"),
        )?,
        document_type: required(
            "document_type",
            &request.document_type,
            DocumentTypeCode::parse,
        )?,
        reason: required("reason", &request.reason, Reason::parse)?,
    };
    let approval = archive.approve_declassification(&actor, request).await?;
    Ok(Response::new(pb::Declassification {
        name: approval.name(),
        version: approval.version as i32,
        from_document_type: approval.from_document_type.to_string(),
        document_type: approval.document_type.to_string(),
        reason: approval.reason.to_string(),
        approved_by: approval.approved_by,
        approve_time: Some(timestamp(approval.approve_time)),
        expire_time: Some(timestamp(approval.expire_time)),
    }))
}

pub(super) async fn list_document_versions(
    archive: &Archive,
    request: Request<pb::ListDocumentVersionsRequest>,
) -> Result<Response<pb::ListDocumentVersionsResponse>, Status> {
    let actor = actor(&request)?;
    let name = DocumentName::parse("name", &request.into_inner().name)?;
    let versions = archive.list_document_versions(&actor, &name).await?;
    Ok(Response::new(pb::ListDocumentVersionsResponse {
        versions: versions
            .iter()
            .map(|version| version_to_proto(&name, version))
            .collect(),
    }))
}

fn parse_header(header: pb::CorrectionHeader) -> Result<CorrectionHeader, Error> {
    let name = DocumentName::parse("header.name", &header.name)?;
    let expected_version = parse_version("header.expected_version", header.expected_version)?
        .ok_or_else(|| {
            Error::invalid(
                "header.expected_version",
                "is required: the version you read and correct",
            )
        })?;
    let reason = CorrectionReason::parse(&header.reason)
        .map_err(|reason| Error::invalid("header.reason", reason))?;
    let document = header.document.unwrap_or_default();
    let paths = header
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let mut changes = DocumentChanges::default();
    for path in &paths {
        match path.as_str() {
            "document_type" => {
                changes.document_type = Some(required(
                    "header.document.document_type",
                    &document.document_type,
                    DocumentTypeCode::parse,
                )?);
            }
            "business_process" => {
                changes.business_process = Some(
                    parse_process(
                        "header.document.business_process",
                        document.business_process,
                    )?
                    .ok_or_else(|| {
                        Error::invalid(
                            "header.document.business_process",
                            "must not be unspecified",
                        )
                    })?,
                );
            }
            "work_order_number" => {
                changes.work_order_number = Some(optional(
                    "header.document.work_order_number",
                    &document.work_order_number,
                    WorkOrderNumber::parse,
                )?);
            }
            "title" => {
                changes.title = Some(required(
                    "header.document.title",
                    &document.title,
                    Title::parse,
                )?);
            }
            other => {
                return Err(Error::invalid(
                    "header.update_mask",
                    format!(
                        "{other:?} cannot be corrected; allowed are document_type, business_process, work_order_number, title"
                    ),
                ));
            }
        }
    }
    Ok(CorrectionHeader {
        name,
        expected_version,
        reason,
        changes,
    })
}

fn parse_part(part: Option<Part>) -> Result<CorrectionPart, Error> {
    match part {
        Some(Part::KeepPage(keep)) => match keep.page_number {
            n if n >= 1 => Ok(CorrectionPart::KeepPage(n as u32)),
            n => Err(Error::invalid(
                "keep_page.page_number",
                format!("must be a page number (1 or more), got {n}"),
            )),
        },
        Some(Part::PageStart(start)) => Ok(CorrectionPart::PageStart {
            expected_sha256: optional("page_start.sha256", &start.sha256, Sha256Digest::parse_hex)?,
        }),
        Some(Part::Chunk(bytes)) => Ok(CorrectionPart::Chunk(bytes)),
        Some(Part::Header(_)) => Err(Error::invalid(
            "header",
            "a stream has exactly one header, as its first message",
        )),
        None => Err(Error::invalid(
            "part",
            "every message must carry a header, a keep_page, a page_start or a chunk",
        )),
    }
}

fn version_to_proto(document: &DocumentName, version: &DocumentVersion) -> pb::DocumentVersion {
    pb::DocumentVersion {
        document: document.to_string(),
        version: version.version as i32,
        document_type: version.document_type.to_string(),
        business_process: process_to_proto(version.business_process).into(),
        work_order_number: version
            .work_order_number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        title: version.title.to_string(),
        page_count: version.page_count as i32,
        size_bytes: version.size_bytes as i64,
        create_time: Some(timestamp(version.created_at)),
        author_system: version.author.system.clone(),
        author_person: version.author.person.clone(),
        reason: version.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_zero_means_the_current_one_and_a_negative_one_is_rejected() {
        assert_eq!(parse_version("version", 0).unwrap(), None);
        assert_eq!(parse_version("version", 3).unwrap(), Some(3));
        assert!(parse_version("version", -1).is_err());
    }

    #[test]
    fn a_header_without_a_reason_is_rejected_naming_the_field() {
        let header = pb::CorrectionHeader {
            name: "customers/1201000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e".into(),
            expected_version: 1,
            ..Default::default()
        };
        let error = parse_header(header).unwrap_err();
        assert!(error.to_string().starts_with("header.reason:"), "{error}");
    }

    #[test]
    fn a_mask_naming_an_immutable_field_is_rejected() {
        let header = pb::CorrectionHeader {
            name: "customers/1201000001/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e".into(),
            expected_version: 1,
            reason: "typo".into(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["source_system".into()],
            }),
            ..Default::default()
        };
        let error = parse_header(header).unwrap_err();
        assert!(
            error.to_string().starts_with("header.update_mask:"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::grpc::proptests::{assert_clean_refusal, text};
    use crate::testing::proptest_config;

    const PATHS: [&str; 7] = [
        "document_type",
        "business_process",
        "work_order_number",
        "title",
        "name",
        "",
        "pages",
    ];

    fn header() -> impl Strategy<Value = pb::CorrectionHeader> {
        let document = (text(), text(), text(), any::<i32>()).prop_map(
            |(document_type, work_order_number, title, business_process)| pb::Document {
                document_type,
                work_order_number,
                title,
                business_process,
                ..Default::default()
            },
        );
        let name = prop_oneof![
            text(),
            any::<u128>().prop_map(|id| {
                format!(
                    "customers/1200000001/documents/{}",
                    uuid::Uuid::from_u128(id)
                )
            }),
        ];
        let mask = prop::collection::vec(
            prop_oneof![
                prop::sample::select(&PATHS[..]).prop_map(String::from),
                text()
            ],
            0..4,
        )
        .prop_map(|paths| prost_types::FieldMask { paths });
        (
            name,
            any::<i32>(),
            prop_oneof![Just("rescanned".to_owned()), text()],
            prop::option::of(document),
            prop::option::of(mask),
        )
            .prop_map(|(name, expected_version, reason, document, update_mask)| {
                pb::CorrectionHeader {
                    name,
                    expected_version,
                    reason,
                    document,
                    update_mask,
                }
            })
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// A correction header through the wire and the parser: it names a document and a
        /// version 1 or more, changes exactly what its mask names, or is refused naming the
        /// field at fault.
        #[test]
        fn proptest_correction_headers_parse_or_refuse_naming_the_field(sent in header()) {
            let message = pb::CorrectDocumentRequest { part: Some(Part::Header(sent.clone())) };
            let decoded = pb::CorrectDocumentRequest::decode(message.encode_to_vec().as_slice());
            prop_assert_eq!(&decoded.unwrap(), &message);
            match parse_header(sent.clone()) {
                Ok(header) => {
                    prop_assert_eq!(&header.name, &DocumentName::parse("n", &sent.name).unwrap());
                    prop_assert_eq!(i64::from(header.expected_version), i64::from(sent.expected_version));
                    let paths = sent.update_mask.map(|mask| mask.paths).unwrap_or_default();
                    let named = |path: &str| paths.iter().any(|p| p == path);
                    prop_assert_eq!(header.changes.document_type.is_some(), named("document_type"));
                    prop_assert_eq!(header.changes.title.is_some(), named("title"));
                    prop_assert_eq!(header.changes.business_process.is_some(), named("business_process"));
                    prop_assert_eq!(header.changes.work_order_number.is_some(), named("work_order_number"));
                }
                Err(error) => {
                    let field = match &error {
                        Error::InvalidArgument { field, .. } => *field,
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    };
                    prop_assert!(field.starts_with("header."), "{field}");
                    assert_clean_refusal(error, field)?;
                }
            }
        }

        /// Any bytes as a later message of a correction: decoded or not, never a panic, and a
        /// decoded part is taken or refused cleanly.
        #[test]
        fn proptest_correction_parts_decode_or_refuse_cleanly(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(message) = pb::CorrectDocumentRequest::decode(bytes.as_slice()) {
                match (message.part.clone(), parse_part(message.part)) {
                    (Some(Part::KeepPage(keep)), Ok(CorrectionPart::KeepPage(number))) => {
                        prop_assert_eq!(i64::from(number), i64::from(keep.page_number));
                    }
                    (Some(Part::KeepPage(_)), Err(error)) => {
                        assert_clean_refusal(error, "keep_page.page_number")?;
                    }
                    (Some(Part::PageStart(_)), Err(error)) => {
                        assert_clean_refusal(error, "page_start.sha256")?;
                    }
                    (Some(Part::Header(_)), Err(error)) => assert_clean_refusal(error, "header")?,
                    (None, Err(error)) => assert_clean_refusal(error, "part")?,
                    (_, Ok(_)) => {}
                    (sent, Err(error)) => prop_assert!(false, "{sent:?} refused: {error:?}"),
                }
            }
        }
    }
}
