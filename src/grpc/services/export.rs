//! ExportService: an audited export, streaming the set's accounts and documents; the caller
//! reads the pages through PageService.

use futures::StreamExt as _;
use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use crate::domain::{
    DocumentFilter, DocumentName, DocumentTypeCode, Error, ExportItem, ExportPurpose, ExportSet,
    OrgUnitCode, parse_customer_name,
};
use crate::grpc::convert::{
    customer_to_proto, document_to_proto, optional, parse_process, parse_timestamp, required,
    timestamp,
};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;
use crate::proto::v1::export_documents_request::Set;
use crate::proto::v1::export_documents_response::Item;

pub struct ExportService {
    archive: crate::domain::Archive,
}

impl ExportService {
    pub fn new(archive: crate::domain::Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::export_service_server::ExportService for ExportService {
    type ExportDocumentsStream = BoxStream<'static, Result<pb::ExportDocumentsResponse, Status>>;

    async fn export_documents(
        &self,
        request: Request<pb::ExportDocumentsRequest>,
    ) -> Result<Response<Self::ExportDocumentsStream>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let parsed = required("purpose", &request.purpose, ExportPurpose::parse)
            .and_then(|purpose| Ok((purpose, parse_set(request.set)?)));
        let (purpose, set) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                self.archive
                    .record_failed_call(&actor, "ExportDocuments", &error)
                    .await;
                return Err(error.into());
            }
        };
        let export = self.archive.export(&actor, purpose, set).await?;
        let started = pb::ExportStarted {
            name: format!("exports/{}", export.id),
            exported_by_system: actor.system.clone(),
            exported_by_person: actor.person.clone(),
            role: actor.role.clone(),
            export_time: Some(timestamp(export.started_at)),
            purpose: export.purpose.as_str().to_owned(),
            set_definition: export.set.clone(),
            pages_readable: export.pages_readable,
            personal_data_masked: export.personal_data_masked,
        };
        let first = futures::stream::once(async move {
            Ok(pb::ExportDocumentsResponse {
                item: Some(Item::Started(started)),
            })
        });
        let items = export.items.map(|item| {
            let item = match item? {
                ExportItem::Customer(customer) => Item::Customer(customer_to_proto(&customer)),
                ExportItem::Document(document) => Item::Document(document_to_proto(&document)),
            };
            Ok(pb::ExportDocumentsResponse { item: Some(item) })
        });
        Ok(Response::new(first.chain(items).boxed()))
    }
}

fn parse_set(set: Option<Set>) -> Result<ExportSet, Error> {
    match set {
        None => Err(Error::invalid(
            "set",
            "is required: an account, an org_unit or a list of documents",
        )),
        Some(Set::Account(name)) => Ok(ExportSet::Account(parse_customer_name("account", &name)?)),
        Some(Set::OrgUnit(unit)) => Ok(ExportSet::OrgUnit {
            unit: required(
                "org_unit.org_unit_code",
                &unit.org_unit_code,
                OrgUnitCode::parse,
            )?,
            filter: DocumentFilter {
                document_type: optional(
                    "org_unit.document_type",
                    &unit.document_type,
                    DocumentTypeCode::parse,
                )?,
                business_process: parse_process(
                    "org_unit.business_process",
                    unit.business_process,
                )?,
                work_order_number: None,
                filed_after: parse_timestamp("org_unit.filed_after", unit.filed_after)?,
                filed_before: parse_timestamp("org_unit.filed_before", unit.filed_before)?,
            }
            .validate()?,
        }),
        Some(Set::Documents(list)) => {
            let names = list
                .names
                .iter()
                .map(|name| DocumentName::parse("documents.names", name))
                .collect::<Result<Vec<_>, _>>()?;
            ExportSet::documents(names)
        }
    }
}
