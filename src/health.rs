//! The grpc.health.v1 status: SERVING only while PostgreSQL and the object store both answer
//! and the audit trail can be written.

use std::time::Duration;

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::domain::Archive;

/// Probes the backends every `interval` and reports the result for `services` and for the
/// whole server (""), until `stopping` turns true.
pub async fn watch_backends(
    archive: Archive,
    reporter: HealthReporter,
    services: &'static [&'static str],
    interval: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut last = None;
    loop {
        let status = match tokio::time::timeout(interval, archive.ping()).await {
            Ok(Ok(())) => ServingStatus::Serving,
            Ok(Err(error)) => {
                if last != Some(ServingStatus::NotServing) {
                    tracing::warn!(
                        error = format!("{:#}", anyhow::Error::from(error)),
                        "backends not ready"
                    );
                }
                ServingStatus::NotServing
            }
            Err(_) => ServingStatus::NotServing,
        };
        if *stopping.borrow() {
            return;
        }
        if last != Some(status) {
            tracing::info!(?status, "health changed");
            set_all(&reporter, services, status).await;
            last = Some(status);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// Reports `status` for the whole server and for each service.
pub async fn set_all(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(*service, status).await;
    }
}
