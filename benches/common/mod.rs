//! Shared by the benchmarks: a closed-loop load generator with a fixed number of callers over
//! several HTTP/2 connections, and the medians (with min–max) of repeated rounds.
//!
//! Each bench includes it with `mod common;` (or `#[path]` from a subdirectory); not every
//! bench uses every item.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

/// What one round of a workload did.
#[derive(Clone, Debug, Default)]
pub struct Round {
    pub calls: u64,
    pub errors: u64,
    /// Payload bytes moved by the successful calls, as each call reported them.
    pub bytes: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first error seen, so a failing workload says why.
    pub first_error: Option<String>,
    /// CPU seconds spent during the round by each process a bench watches, where it does.
    pub cpu_seconds: Option<[f64; 4]>,
}

impl Round {
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.seconds
    }

    /// Megabytes (10^6) per second of payload.
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }
}

/// Runs `concurrency` callers, each calling `call(caller, n)` back to back until `duration`
/// has passed; `n` counts the calls of all callers without repeats. A call returns the payload
/// bytes it moved. Failed calls count as errors and are not in the latencies.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Round
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let deadline = started + duration;
    let callers = (0..concurrency).map(|caller| {
        let call = Arc::clone(&call);
        tokio::spawn(async move {
            let mut outcome = Caller::default();
            let mut n = caller as u64;
            while Instant::now() < deadline {
                let begun = Instant::now();
                match call(caller, n).await {
                    Ok(bytes) => {
                        outcome.latencies.push(begun.elapsed());
                        outcome.bytes += bytes;
                    }
                    Err(error) => {
                        outcome.errors += 1;
                        outcome.first_error.get_or_insert(format!("{error:#}"));
                    }
                }
                n += concurrency as u64;
            }
            outcome
        })
    });
    let mut all = Caller::default();
    for caller in futures::future::join_all(callers).await {
        let caller = caller.expect("a load-generator task panicked");
        all.latencies.extend(caller.latencies);
        all.bytes += caller.bytes;
        all.errors += caller.errors;
        if all.first_error.is_none() {
            all.first_error = caller.first_error;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let at = |q: f64| {
        all.latencies
            .get(((all.latencies.len() as f64 * q) as usize).min(all.latencies.len().max(1) - 1))
            .map_or(f64::NAN, |latency| latency.as_secs_f64() * 1e3)
    };
    Round {
        calls: all.latencies.len() as u64,
        errors: all.errors,
        bytes: all.bytes,
        seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: all
            .latencies
            .last()
            .map_or(f64::NAN, |latency| latency.as_secs_f64() * 1e3),
        first_error: all.first_error,
        cpu_seconds: None,
    }
}

#[derive(Default)]
struct Caller {
    latencies: Vec<Duration>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Opens `count` HTTP/2 connections to `address`. The receive windows match the server's
/// (2 MiB per stream, 8 MiB per connection): with HTTP/2's 64 KiB default a page download
/// stalls on window updates rather than on the server.
pub async fn channels(address: SocketAddr, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(
            Endpoint::from_shared(format!("http://{address}"))?
                .tcp_nodelay(true)
                .initial_stream_window_size(Some(2 << 20))
                .initial_connection_window_size(Some(8 << 20))
                .connect()
                .await?,
        );
    }
    Ok(channels)
}

/// The median of `values` (the upper one of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// "median (min–max)" with `decimals` digits.
pub fn spread(values: &[f64], decimals: usize) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.*} ({:.*}–{:.*})",
        decimals,
        median(values),
        decimals,
        min,
        decimals,
        max
    )
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench binaries without it,
/// and (manifest `test = false` notwithstanding) expects them to pass: they have nothing to
/// test and must not start a minutes-long run.
pub fn run_by_cargo_test() -> bool {
    let by_test = !std::env::args().any(|arg| arg == "--bench");
    if by_test {
        println!("benchmark binary: nothing to test; run it with `cargo bench` (see the Makefile)");
    }
    by_test
}
