//! The gRPC transport: decodes requests into domain types, calls the [`Archive`], encodes the
//! replies. One module per service; errors become statuses in `error`; `limits` admits or
//! refuses each call before any service sees it.

mod audit;
pub mod auth;
mod completeness;
mod customer_history;
mod customers;
mod disposal;
mod document_types;
mod documents;
mod error;
pub mod limits;
pub mod linger;
mod pages;
mod retention;
mod rpc_span;
mod versions;

pub use rpc_span::RpcSpanLayer;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use prost_types::Timestamp;

use crate::domain::{Archive, Error};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;

use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::completeness_service_server::CompletenessServiceServer;
use crate::proto::v1::customer_service_server::CustomerServiceServer;
use crate::proto::v1::disposal_service_server::DisposalServiceServer;
use crate::proto::v1::document_service_server::DocumentServiceServer;
use crate::proto::v1::document_type_service_server::DocumentTypeServiceServer;
use crate::proto::v1::page_service_server::PageServiceServer;
use crate::proto::v1::retention_service_server::RetentionServiceServer;
use tonic::service::Interceptor;

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
];

/// Every service a caller reaches with a token: the archive's and reflection (v1 and v1alpha,
/// as grpcurl 1.8 and Python's grpcio-reflection speak the latter).
pub fn authenticated_routes<A>(
    archive: Archive,
    authenticator: A,
    max_message_bytes: usize,
) -> anyhow::Result<Routes>
where
    A: Interceptor + Clone + Send + Sync + 'static,
{
    let auth = || authenticator.clone();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Every service decodes and encodes messages up to the same limit.
    let n = max_message_bytes;
    let routes = Routes::new(InterceptedService::new(
        CustomerServiceServer::new(customers::Customers::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        DocumentServiceServer::new(documents::Documents::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        PageServiceServer::new(pages::Pages::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        DocumentTypeServiceServer::new(document_types::DocumentTypes::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        RetentionServiceServer::new(retention::RetentionService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        DisposalServiceServer::new(disposal::DisposalService::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        CompletenessServiceServer::new(completeness::Completeness::new(archive.clone()))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        AuditServiceServer::new(audit::Audit::new(archive))
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        reflection()
            .build_v1()?
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ))
    .add_service(InterceptedService::new(
        reflection()
            .build_v1alpha()?
            .max_decoding_message_size(n)
            .max_encoding_message_size(n),
        auth(),
    ));
    Ok(routes)
}

/// Converts a domain time to a protobuf timestamp.
/// Splits a streamed upload (a filing or a correction) into the header that must open it and
/// the parts after it. `header_of` answers `None` for a first message that is not a header.
async fn split_upload<M, H, P>(
    mut stream: tonic::Streaming<M>,
    what: &'static str,
    header_of: impl FnOnce(M) -> Option<Result<H, Error>>,
    part_of: fn(M) -> Result<P, Error>,
) -> Result<(H, BoxStream<'static, Result<P, Error>>), tonic::Status>
where
    M: Send + 'static,
    P: Send + 'static,
{
    use futures::StreamExt as _;
    let header = match stream.message().await? {
        Some(first) => header_of(first).unwrap_or_else(|| {
            Err(Error::invalid(
                "header",
                "the first message of the stream must be the header",
            ))
        })?,
        None => return Err(Error::invalid("header", "the stream is empty").into()),
    };
    let parts = stream.map(move |message| match message {
        Ok(message) => part_of(message),
        // tonic's decoder refuses a message over `server.max_message_bytes` with OUT_OF_RANGE;
        // for an upload that is a limit passed, like a page too large.
        Err(status) if status.code() == tonic::Code::OutOfRange => {
            Err(Error::ResourceExhausted(format!(
                "a message of the {what} is too large; send smaller chunks ({})",
                status.message()
            )))
        }
        Err(status) => Err(Error::Cancelled(format!(
            "the {what} stream broke off before it ended: {}",
            status.message()
        ))),
    });
    Ok((header, parts.boxed()))
}

fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// Converts an optional protobuf timestamp, rejecting out-of-range values.
fn parse_timestamp(
    field: &'static str,
    timestamp: Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, Error> {
    timestamp
        .map(|t| {
            u32::try_from(t.nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
                .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
        })
        .transpose()
}

/// Parses an optional string field: empty means absent.
fn optional<T>(
    field: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text)
            .map(Some)
            .map_err(|reason| Error::invalid(field, reason))
    }
}

/// Parses a required string field.
fn required<T>(
    field: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Error> {
    if text.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    parse(text).map_err(|reason| Error::invalid(field, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_round_trips_to_the_nanosecond() {
        let now = Utc::now();
        assert_eq!(
            parse_timestamp("t", Some(timestamp(now))).unwrap(),
            Some(now)
        );
    }

    #[test]
    fn a_timestamp_with_negative_nanos_is_rejected() {
        let bad = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(parse_timestamp("t", Some(bad)).is_err());
    }

    #[test]
    fn an_empty_required_field_is_reported_as_required() {
        let error = required("title", "", |t| Ok::<_, String>(t.to_owned())).unwrap_err();
        assert_eq!(error.to_string(), "title: is required");
    }
}
