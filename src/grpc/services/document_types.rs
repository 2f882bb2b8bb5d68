//! DocumentTypeService: the catalog.

use tonic::{Request, Response, Status};

use crate::domain::{Archive, Confidentiality, DocumentType};
use crate::grpc::convert::{retention_class, retention_trigger};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct DocumentTypes {
    archive: Archive,
}

impl DocumentTypes {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::document_type_service_server::DocumentTypeService for DocumentTypes {
    async fn list_document_types(
        &self,
        request: Request<pb::ListDocumentTypesRequest>,
    ) -> Result<Response<pb::ListDocumentTypesResponse>, Status> {
        let actor = actor(&request)?;
        let types = self.archive.document_types(&actor).await?;
        Ok(Response::new(pb::ListDocumentTypesResponse {
            document_types: types.iter().map(to_proto).collect(),
        }))
    }
}

fn to_proto(document_type: &DocumentType) -> pb::DocumentType {
    pb::DocumentType {
        name: format!("documentTypes/{}", document_type.code),
        code: document_type.code.to_string(),
        display_name: document_type.display_name.clone(),
        chinese_name: document_type.chinese_name.clone(),
        retention_class: retention_class(document_type.retention_class).into(),
        retention_trigger: retention_trigger(document_type.retention_trigger).into(),
        contains_personal_data: document_type.contains_personal_data,
        confidentiality: match document_type.confidentiality {
            Confidentiality::Public => pb::Confidentiality::Public,
            Confidentiality::Internal => pb::Confidentiality::Internal,
            Confidentiality::Confidential => pb::Confidentiality::Confidential,
        }
        .into(),
    }
}
