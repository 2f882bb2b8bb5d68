//! StatisticsService: counts of archives, documents, pages and bytes, rolled up the org tree.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, DocumentTypeCode, Error, OrgUnitCode, StatisticsRequest, parse_month,
};
use crate::grpc::convert::{optional, parse_class, parse_process, parse_status, process_to_proto};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct StatisticsService {
    archive: Archive,
}

impl StatisticsService {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::statistics_service_server::StatisticsService for StatisticsService {
    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let actor = actor(&request)?;
        let request = parse_request(request.into_inner())?;
        let statistics = self.archive.statistics(&actor, &request).await?;
        Ok(Response::new(pb::GetStatisticsResponse {
            archives: statistics
                .archives
                .into_iter()
                .map(|(org_unit, archives)| pb::ArchiveCount { org_unit, archives })
                .collect(),
            documents: statistics
                .documents
                .into_iter()
                .map(|count| pb::DocumentCount {
                    org_unit: count.org_unit,
                    document_type: count.document_type.unwrap_or_default(),
                    business_process: count
                        .business_process
                        .map_or(pb::BusinessProcess::Unspecified, process_to_proto)
                        .into(),
                    month: count
                        .month
                        .map(|m| m.format("%Y-%m").to_string())
                        .unwrap_or_default(),
                    documents: count.documents,
                    pages: count.pages,
                    bytes: count.bytes,
                })
                .collect(),
        }))
    }
}

fn parse_request(request: pb::GetStatisticsRequest) -> Result<StatisticsRequest, Error> {
    StatisticsRequest {
        org_unit: optional("org_unit", &request.org_unit, OrgUnitCode::parse)?,
        from_month: optional("from_month", &request.from_month, parse_month)?,
        to_month: optional("to_month", &request.to_month, parse_month)?,
        customer_class: parse_class("customer_class", request.customer_class)?,
        customer_status: parse_status("customer_status", request.customer_status)?,
        document_types: request
            .document_types
            .iter()
            .map(|code| {
                DocumentTypeCode::parse(code)
                    .map_err(|reason| Error::invalid("document_types", reason))
            })
            .collect::<Result<_, _>>()?,
        business_processes: request
            .business_processes
            .iter()
            .map(|value| {
                parse_process("business_processes", *value)?
                    .ok_or_else(|| Error::invalid("business_processes", "must not be UNSPECIFIED"))
            })
            .collect::<Result<_, _>>()?,
        by_document_type: request.by_document_type,
        by_business_process: request.by_business_process,
        by_month: request.by_month,
    }
    .validate()
}
