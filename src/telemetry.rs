//! Logs, traces and metrics. Logs go to stderr, readable or JSON; spans and metrics (see
//! `metrics`) go to an OpenTelemetry collector over OTLP/gRPC when `telemetry.otlp_endpoint` is
//! set, and cost nothing when it is not (no exporter, no OpenTelemetry layer, no-op meter).
//!
//! Spans carry account and document ids and RPC names, never personal data or secrets.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::settings::{LogFormat, LogSettings, TelemetrySettings};

/// Keeps the trace and metric pipelines alive; `shutdown` flushes what is buffered.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Builds the subscriber for these settings. The binary installs it globally; tests install
    /// it for their own thread. Must be called inside a tokio runtime when tracing is on.
    pub fn build(
        log: &LogSettings,
        settings: &TelemetrySettings,
    ) -> anyhow::Result<(Self, tracing::Dispatch)> {
        // Per-layer filters: a quiet log level must not hide the INFO spans from the tracer.
        let log_filter = EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&log.filter))
            .unwrap_or_else(|_| EnvFilter::new("info"));
        let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let logs = match log.format {
            LogFormat::Json => logs.json().flatten_event(true).boxed(),
            LogFormat::Pretty => logs.compact().boxed(),
        }
        .with_filter(log_filter);

        let (tracer_provider, traces, meter_provider) = if settings.otlp_endpoint.is_empty() {
            (None, None, None)
        } else {
            let resource = Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build();
            let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(&settings.otlp_endpoint)
                .build()?;
            let meter_provider = SdkMeterProvider::builder()
                .with_reader(
                    PeriodicReader::builder(metric_exporter, opentelemetry_sdk::runtime::Tokio)
                        .build(),
                )
                .with_resource(resource.clone())
                .build();
            opentelemetry::global::set_meter_provider(meter_provider.clone());
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(&settings.otlp_endpoint)
                .build()?;
            let processor =
                BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(resource)
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("custodian"))
                .with_filter(Targets::new().with_target("custodian", tracing::Level::INFO));
            (Some(provider), Some(layer), Some(meter_provider))
        };
        let storage_timings = meter_provider.is_some().then(|| {
            crate::metrics::StorageTimings::new()
                .with_filter(Targets::new().with_target("custodian", tracing::Level::INFO))
        });
        let subscriber = Registry::default()
            .with(logs)
            .with(traces)
            .with(storage_timings);
        let telemetry = Self {
            tracer_provider,
            meter_provider,
        };
        Ok((telemetry, tracing::Dispatch::new(subscriber)))
    }

    /// Sends the buffered spans and stops the exporter.
    pub async fn shutdown(self) {
        // Shutdown blocks until the exporter tasks, which run on this runtime, have flushed.
        let flushed = tokio::task::spawn_blocking(move || {
            let traces = self.tracer_provider.map(|provider| provider.shutdown());
            let metrics = self.meter_provider.map(|provider| provider.shutdown());
            (traces, metrics)
        })
        .await;
        if let Ok((Some(Err(error)), _) | (_, Some(Err(error)))) = flushed {
            tracing::warn!(%error, "could not flush the last spans or metrics");
        }
    }
}

/// Installs plain logs only, for commands that do not serve (migrate, the client).
pub fn init_logs(log: &LogSettings) {
    if let Ok((_, dispatch)) = Telemetry::build(log, &TelemetrySettings::default()) {
        // A second init (tests) keeps the first subscriber.
        let _ = tracing::dispatcher::set_global_default(dispatch);
    }
}
