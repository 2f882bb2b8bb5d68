//! Metrics, exported over OTLP with the traces when `telemetry.otlp_endpoint` is set; without
//! it the global meter is a no-op and recording costs next to nothing.
//!
//! | instrument | kind | attributes |
//! | --- | --- | --- |
//! | `rpc.server.duration` | histogram, seconds | `rpc.method`, `rpc.grpc.status_code` |
//! | `custodian.pages.filed` | counter | |
//! | `custodian.page.bytes` | counter, bytes | `direction` (`in` filed, `out` read) |
//! | `db.client.connections` | gauge | `state` (`idle`, `used`) |

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

struct Instruments {
    rpc_duration: Histogram<f64>,
    pages_filed: Counter<u64>,
    page_bytes: Counter<u64>,
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
        }
    })
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
