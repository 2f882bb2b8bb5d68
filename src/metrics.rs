//! Metrics, exported over OTLP with the traces when `telemetry.otlp_endpoint` is set; without
//! it the global meter is a no-op and recording costs next to nothing.
//!
//! | instrument | kind | attributes |
//! | --- | --- | --- |
//! | `rpc.server.duration` | histogram, seconds | `rpc.method`, `rpc.grpc.status_code` |
//! | `custodian.pages.filed` | counter | |
//! | `custodian.page.bytes` | counter, bytes | `direction` (`in` filed, `out` read) |
//! | `custodian.orphans.removed` | counter | `kind` (`page`: queued for deletion, `staging`) |
//! | `custodian.fixity.checked` | counter | `outcome` (`intact`, `mismatch`, `missing`) |
//! | `custodian.renditions.finished` | counter | `outcome` (`ready`, `failed`: the page does not decode, `retry`) |
//! | `custodian.renditions.delay` | histogram, seconds | (from queueing to ready) |
//! | `db.client.connections` | gauge | `state` (`idle`, `used`) |
//! | `db.client.operation.duration` | histogram, seconds | `operation`, `outcome` |
//! | `custodian.object_store.duration` | histogram, seconds | `operation`, `outcome` |

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

struct Instruments {
    rpc_duration: Histogram<f64>,
    pages_filed: Counter<u64>,
    page_bytes: Counter<u64>,
    orphans_removed: Counter<u64>,
    fixity_checked: Counter<u64>,
    renditions_finished: Counter<u64>,
    rendition_delay: Histogram<f64>,
}

fn meter() -> Meter {
    opentelemetry::global::meter("custodian")
}

/// The instruments, made on first use: after the meter provider is installed.
fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = meter();
        Instruments {
            rpc_duration: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("s")
                .with_description("Duration of RPCs until their response headers")
                .build(),
            pages_filed: meter
                .u64_counter("custodian.pages.filed")
                .with_description("Pages of committed filings")
                .build(),
            page_bytes: meter
                .u64_counter("custodian.page.bytes")
                .with_unit("By")
                .with_description("Page bytes filed (in) and read (out)")
                .build(),
            orphans_removed: meter
                .u64_counter("custodian.orphans.removed")
                .with_description("Objects no page refers to, removed by the orphan collector")
                .build(),
            fixity_checked: meter
                .u64_counter("custodian.fixity.checked")
                .with_description("Stored pages re-read and re-hashed by the fixity scrub")
                .build(),
            renditions_finished: meter
                .u64_counter("custodian.renditions.finished")
                .with_description(
                    "Rendition jobs ended: ready, failed (the page does not decode) or retried",
                )
                .build(),
            rendition_delay: meter
                .f64_histogram("custodian.renditions.delay")
                .with_unit("s")
                .with_description("Time from a page's queueing to its renditions being ready")
                .build(),
        }
    })
}

/// Records how a rendition job ended: `ready`, `failed` or `retry`.
pub fn rendition_finished(outcome: &'static str) {
    instruments()
        .renditions_finished
        .add(1, &[KeyValue::new("outcome", outcome)]);
}

/// Records how long a page waited from its queueing until its renditions were ready.
pub fn rendition_delay(seconds: f64) {
    instruments().rendition_delay.record(seconds, &[]);
}

/// Records one finished RPC.
pub fn rpc_finished(method: &str, status_code: i32, seconds: f64) {
    instruments().rpc_duration.record(
        seconds,
        &[
            KeyValue::new("rpc.method", method.to_owned()),
            KeyValue::new("rpc.grpc.status_code", i64::from(status_code)),
        ],
    );
}

/// Records a committed filing.
pub fn document_filed(pages: u64, bytes: u64) {
    let instruments = instruments();
    instruments.pages_filed.add(pages, &[]);
    instruments
        .page_bytes
        .add(bytes, &[KeyValue::new("direction", "in")]);
}

/// Records page bytes sent to a reader.
pub fn page_bytes_read(bytes: u64) {
    instruments()
        .page_bytes
        .add(bytes, &[KeyValue::new("direction", "out")]);
}

/// Records what one orphan collection removed.
pub fn orphans_removed(pages: u64, staging: u64) {
    let counter = &instruments().orphans_removed;
    counter.add(pages, &[KeyValue::new("kind", "page")]);
    counter.add(staging, &[KeyValue::new("kind", "staging")]);
}

/// Records one page checked by the fixity scrub.
pub fn fixity_checked(outcome: &'static str) {
    instruments()
        .fixity_checked
        .add(1, &[KeyValue::new("outcome", outcome)]);
}

/// Reports the database pool's connections, idle and in use, at each export.
pub fn observe_pool(pool_size: impl Fn() -> (u64, u64) + Send + Sync + 'static) {
    // The gauge lives as long as the meter provider; its handle need not be kept.
    let _gauge = meter()
        .u64_observable_gauge("db.client.connections")
        .with_description("Database connections of the pool")
        .with_callback(move |observer| {
            let (size, idle) = pool_size();
            observer.observe(idle, &[KeyValue::new("state", "idle")]);
            observer.observe(size.saturating_sub(idle), &[KeyValue::new("state", "used")]);
        })
        .build();
}

/// Times the storage spans (`db.query`, `object_store`) into latency histograms by operation
/// and outcome, so database and object-store latency and errors need no code at each call.
pub struct StorageTimings {
    db: Histogram<f64>,
    object_store: Histogram<f64>,
}

impl StorageTimings {
    pub fn new() -> Self {
        let meter = meter();
        Self {
            db: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("PostgreSQL calls by operation and outcome")
                .build(),
            object_store: meter
                .f64_histogram("custodian.object_store.duration")
                .with_unit("s")
                .with_description("Object store calls by operation and outcome")
                .build(),
        }
    }
}

impl Default for StorageTimings {
    fn default() -> Self {
        Self::new()
    }
}

/// What a storage span collects while it is open.
struct Timing {
    started: std::time::Instant,
    operation: String,
    failed: bool,
}

struct OperationField<'a>(&'a mut String);

impl tracing::field::Visit for OperationField<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name().ends_with(".operation") {
            *self.0 = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name().ends_with(".operation") {
            *self.0 = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for StorageTimings
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let name = attributes.metadata().name();
        if name != "db.query" && name != "object_store" {
            return;
        }
        let mut operation = String::new();
        attributes.record(&mut OperationField(&mut operation));
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(Timing {
                started: std::time::Instant::now(),
                operation,
                failed: false,
            });
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        // `#[instrument(err)]` reports a failed call as an ERROR event inside its span.
        if *event.metadata().level() == tracing::Level::ERROR
            && let Some(span) = context.event_span(event)
            && let Some(timing) = span.extensions_mut().get_mut::<Timing>()
        {
            timing.failed = true;
        }
    }

    fn on_close(&self, id: tracing::span::Id, context: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = context.span(&id) else {
            return;
        };
        let Some(timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let histogram = if span.name() == "db.query" {
            &self.db
        } else {
            &self.object_store
        };
        histogram.record(
            timing.started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("operation", timing.operation),
                KeyValue::new("outcome", if timing.failed { "error" } else { "ok" }),
            ],
        );
    }
}
