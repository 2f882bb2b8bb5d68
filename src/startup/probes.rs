//! The probe listener: the health service alone, in plaintext, on its own address, for probes
//! that cannot speak TLS (the kubelet's gRPC probes) when the gRPC listener does. It answers
//! what the main listener's health service answers (the two share one reporter) and nothing
//! else: no other service is routed on it.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::grpc::middleware::Protection;

/// Serves `health` on `listener` until the task is dropped (after the main listener stopped,
/// so that probes see NOT_SERVING through a drain). Connections count against
/// `server.max_connections` like the main listener's.
pub(super) async fn serve_health<H: Health>(
    listener: TcpListener,
    health: HealthServer<H>,
    protection: Protection,
) -> anyhow::Result<()> {
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
        .filter_map(move |connection| {
            std::future::ready(match connection {
                Ok(stream) => protection
                    .admit_connection(stream)
                    .map(Ok::<_, std::io::Error>),
                Err(error) => Some(Err(error)),
            })
        });
    Server::builder()
        .max_concurrent_streams(Some(16))
        .add_service(health)
        .serve_with_incoming(incoming)
        .await
        .context("the probe listener failed")
}
