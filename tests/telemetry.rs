//! Tracing: a real call's spans reach an OTLP collector (a small one in the test), continuing
//! the trace the caller sent in its `traceparent` metadata.
//!
//! A test binary of its own: it installs the process-wide subscriber, which the other
//! integration tests must not share.

// The api tests' harness, of which this binary uses a few helpers.
#[allow(dead_code, unused_imports)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use custodian::proto::v1 as pb;
use custodian::settings::TelemetrySettings;
use custodian::settings::{LogFormat, LogSettings};
use custodian::telemetry::Telemetry;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::metadata::MetadataValue;

use crate::helpers::{Token, filing, header, jpeg_page, spawn_app};

/// A collector that keeps every span and the names of the metrics it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    metrics: Arc<Mutex<Vec<Metric>>>,
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let metrics = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|resource| resource.scope_metrics)
            .flat_map(|scope| scope.metrics);
        self.metrics.lock().unwrap().extend(metrics);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans);
        self.spans.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_call_reaches_the_collector_as_a_continued_trace_and_as_metrics() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (telemetry, dispatch) = Telemetry::build(
        &LogSettings {
            format: LogFormat::Pretty,
            filter: "off".into(),
        },
        &TelemetrySettings {
            otlp_endpoint: format!("http://{address}"),
            service_name: "custodian-test".into(),
        },
    )
    .unwrap();
    tracing::dispatcher::set_global_default(dispatch).unwrap();

    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    // A JPEG header with noise behind it: its rendition fails, which the metrics must show.
    let filed = app
        .file(filing(
            header("1200000001", "t1"),
            &[jpeg_page(1000, 1)],
            1000,
        ))
        .await
        .unwrap();
    let documents = app.documents.clone();
    helpers::eventually(Duration::from_secs(30), "the failed rendition", || {
        let mut documents = documents.clone();
        let name = filed.name.clone();
        async move {
            let document = documents
                .get_document(pb::GetDocumentRequest {
                    name,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            document.pages[0].rendition_state() == pb::RenditionState::Failed
        }
    })
    .await;
    let mut request = tonic::Request::new(pb::GetCustomerRequest {
        name: "customers/1200000001".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        MetadataValue::try_from(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")).unwrap(),
    );
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {}", Token::custodian().mint())).unwrap(),
    );
    app.clients(None)
        .customers
        .get_customer(request)
        .await
        .unwrap();

    // The batch exporter sends every few seconds.
    let ours = |spans: &[Span]| -> Vec<Span> {
        spans
            .iter()
            .filter(|span| hex::encode(&span.trace_id) == TRACE_ID)
            .cloned()
            .collect()
    };
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = ours(&collector.spans.lock().unwrap());
        if spans.iter().any(|span| span.name.ends_with("GetCustomer"))
            && spans.iter().any(|span| span.name == "db.query")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rpc = spans
        .iter()
        .find(|span| span.name == "custodian.v1.CustomerService/GetCustomer")
        .unwrap_or_else(|| {
            panic!(
                "no RPC span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex::encode(&rpc.parent_span_id),
        PARENT_SPAN_ID,
        "the caller's span is the parent"
    );
    let attribute = |name: &str| {
        rpc.attributes
            .iter()
            .find(|kv| kv.key == name)
            .and_then(|kv| kv.value.as_ref())
            .map(|value| format!("{:?}", value.value))
    };
    assert!(
        attribute("custodian.account")
            .unwrap()
            .contains("1200000001")
    );
    assert!(attribute("rpc.grpc.status_code").unwrap().contains('0'));
    // The same id is on the span's log lines (JSON logs carry the span's fields).
    assert!(attribute("trace_id").unwrap().contains(TRACE_ID));
    let query = spans.iter().find(|span| span.name == "db.query").unwrap();
    assert_eq!(
        query.trace_id, rpc.trace_id,
        "database spans belong to the same trace"
    );
    drop(app);

    // Shutting down flushes the metrics.
    telemetry.shutdown().await;
    let metrics = collector.metrics.lock().unwrap().clone();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "rpc.server.duration",
        "db.client.connections",
        "db.client.operation.duration",
        "custodian.pages.filed",
        "custodian.renditions.finished",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let durations = format!(
        "{:?}",
        metrics.iter().find(|m| m.name == "rpc.server.duration")
    );
    assert!(
        durations.contains("GetCustomer"),
        "the RPC histogram is per method"
    );
    let renditions = format!(
        "{:?}",
        metrics
            .iter()
            .find(|m| m.name == "custodian.renditions.finished")
    );
    assert!(
        renditions.contains("failed"),
        "a page that does not decode is counted as failed: {renditions}"
    );
}
