//! ScanQualityService: the report of the documents whose pages need rescanning.

use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, DocumentName, OrgUnitCode, ScanReportItem, ScanReportRequest, ScanReportSummary,
    ScanWarningDocument,
};
use crate::grpc::convert::{parse_timestamp, required, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct ScanQuality {
    archive: Archive,
}

impl ScanQuality {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::scan_quality_service_server::ScanQualityService for ScanQuality {
    type StreamScanQualityReportStream =
        BoxStream<'static, Result<pb::StreamScanQualityReportResponse, Status>>;

    async fn stream_scan_quality_report(
        &self,
        request: Request<pb::StreamScanQualityReportRequest>,
    ) -> Result<Response<Self::StreamScanQualityReportStream>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let request = ScanReportRequest {
            org_unit: required("org_unit_code", &request.org_unit_code, OrgUnitCode::parse)?,
            filed_after: parse_timestamp("filed_after", request.filed_after)?,
            filed_before: parse_timestamp("filed_before", request.filed_before)?,
        };
        let report = self.archive.scan_quality_report(&actor, request).await?;
        let messages = report.map(|item| {
            use pb::stream_scan_quality_report_response::Item;
            let item = match item? {
                ScanReportItem::Document(document) => Item::Document(document_to_proto(document)),
                ScanReportItem::Summary(summary) => Item::Summary(summary_to_proto(&summary)),
            };
            Ok(pb::StreamScanQualityReportResponse { item: Some(item) })
        });
        Ok(Response::new(messages.boxed()))
    }
}

fn document_to_proto(document: ScanWarningDocument) -> pb::DocumentToRescan {
    let name = DocumentName {
        account: document.account.clone(),
        document_id: document.document_id,
    };
    pb::DocumentToRescan {
        document: name.to_string(),
        account_number: document.account.to_string(),
        org_unit_code: document.org_unit.as_str().to_owned(),
        document_type: document.document_type.to_string(),
        filed_at: Some(timestamp(document.filed_at)),
        pages: document
            .pages
            .into_iter()
            .map(|page| pb::PageToRescan {
                page_number: page.number as i32,
                reasons: page.reasons,
            })
            .collect(),
    }
}

fn summary_to_proto(summary: &ScanReportSummary) -> pb::ScanQualitySummary {
    pb::ScanQualitySummary {
        org_unit_code: summary.org_unit.as_str().to_owned(),
        documents: summary.documents as i64,
        pages: summary.pages as i64,
    }
}
