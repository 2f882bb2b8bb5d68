//! The gRPC services, one module per service (a large one split by RPC group), and the routes
//! that serve them. Each decodes requests into domain types, calls the [`Archive`] and encodes
//! the reply; errors become statuses in `grpc::error`.

mod audit;
mod completeness;
mod customer_history;
mod customers;
mod disposal;
mod document_types;
mod documents;
mod export;
mod lending;
mod pages;
mod paper;
mod retention;
mod scan_quality;
mod search;
mod statistics;
mod versions;

use tonic::server::NamedService;
use tonic::service::Routes;

pub use pages::MAX_CHUNK_BYTES;

use crate::domain::Archive;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::completeness_service_server::CompletenessServiceServer;
use crate::proto::v1::customer_service_server::CustomerServiceServer;
use crate::proto::v1::disposal_service_server::DisposalServiceServer;
use crate::proto::v1::document_service_server::DocumentServiceServer;
use crate::proto::v1::document_type_service_server::DocumentTypeServiceServer;
use crate::proto::v1::export_service_server::ExportServiceServer;
use crate::proto::v1::lending_service_server::LendingServiceServer;
use crate::proto::v1::page_service_server::PageServiceServer;
use crate::proto::v1::paper_service_server::PaperServiceServer;
use crate::proto::v1::retention_service_server::RetentionServiceServer;
use crate::proto::v1::scan_quality_service_server::ScanQualityServiceServer;
use crate::proto::v1::search_service_server::SearchServiceServer;
use crate::proto::v1::statistics_service_server::StatisticsServiceServer;

/// The names of the services whose health is reported, besides the whole server ("").
pub const SERVICE_NAMES: &[&str] = &[
    <CustomerServiceServer<()> as NamedService>::NAME,
    <DocumentServiceServer<()> as NamedService>::NAME,
    <PageServiceServer<()> as NamedService>::NAME,
    <DocumentTypeServiceServer<()> as NamedService>::NAME,
    <AuditServiceServer<()> as NamedService>::NAME,
    <RetentionServiceServer<()> as NamedService>::NAME,
    <DisposalServiceServer<()> as NamedService>::NAME,
    <CompletenessServiceServer<()> as NamedService>::NAME,
    <ExportServiceServer<()> as NamedService>::NAME,
    <LendingServiceServer<()> as NamedService>::NAME,
    <PaperServiceServer<()> as NamedService>::NAME,
    <SearchServiceServer<()> as NamedService>::NAME,
    <StatisticsServiceServer<()> as NamedService>::NAME,
    <ScanQualityServiceServer<()> as NamedService>::NAME,
];

/// Every service a caller reaches with a token (see the authentication middleware): the
/// archive's and reflection (v1 and v1alpha,
/// as grpcurl 1.8 and Python's grpcio-reflection speak the latter).
pub fn routes(archive: Archive, max_message_bytes: usize) -> anyhow::Result<Routes> {
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Every service decodes and encodes messages up to the same limit.
    let n = max_message_bytes;
    let routes = Routes::new(
        CustomerServiceServer::new(customers::Customers::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        DocumentServiceServer::new(documents::Documents::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        PageServiceServer::new(pages::Pages::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        DocumentTypeServiceServer::new(document_types::DocumentTypes::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        RetentionServiceServer::new(retention::RetentionService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        DisposalServiceServer::new(disposal::DisposalService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        CompletenessServiceServer::new(completeness::Completeness::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        ExportServiceServer::new(export::ExportService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        LendingServiceServer::new(lending::LendingService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        SearchServiceServer::new(search::Search::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        PaperServiceServer::new(paper::PaperService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        StatisticsServiceServer::new(statistics::StatisticsService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        ScanQualityServiceServer::new(scan_quality::ScanQuality::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        AuditServiceServer::new(audit::Audit::new(archive))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        reflection()
            .build_v1()?
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    )
    .add_service(
        reflection()
            .build_v1alpha()?
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
    );
    Ok(routes)
}
