//! Builds the server from settings and runs it until a shutdown signal, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::domain::Archive;
use crate::grpc::ArchiveServices;
use crate::proto::v1::customer_service_server::CustomerServiceServer;
use crate::proto::v1::document_service_server::DocumentServiceServer;
use crate::proto::v1::document_type_service_server::DocumentTypeServiceServer;
use crate::proto::v1::page_service_server::PageServiceServer;
use crate::settings::Settings;
use crate::storage::{Database, PART_SIZE, PageStore, open_object_store};

/// The services whose health is reported by name, besides the whole server ("").
const SERVICE_NAMES: &[&str] = &[
    <CustomerServiceServer<()> as NamedService>::NAME,
    <DocumentServiceServer<()> as NamedService>::NAME,
    <PageServiceServer<()> as NamedService>::NAME,
    <DocumentTypeServiceServer<()> as NamedService>::NAME,
];

/// The largest gRPC message the server accepts: one page chunk plus framing.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024 + 1024;

/// A server bound to its address, ready to run.
pub struct App {
    listener: TcpListener,
    archive: Archive,
    database: Database,
    settings: Settings,
}

impl App {
    /// Connects the stores (lazily: a backend that is down makes the server NOT_SERVING, not
    /// absent) and binds the listener, so that `local_addr` is known before `run`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database = Database::connect_lazy(
            &settings.database.url,
            settings.database.max_connections,
            Duration::from_secs(settings.database.acquire_timeout_secs),
        )
        .context("invalid database settings")?;
        let store =
            open_object_store(&settings.object_store).context("invalid object store settings")?;
        let archive = Archive::new(
            database.clone(),
            PageStore::new(store),
            settings.limits.into(),
        );
        let listener = TcpListener::bind(settings.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen_addr))?;
        Ok(Self {
            listener,
            archive,
            database,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.settings.server.listen_addr)
    }

    /// Serves until `shutdown` resolves; then reports NOT_SERVING, stops accepting calls and
    /// lets in-flight ones finish within the grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        crate::health::set_all(&reporter, SERVICE_NAMES, ServingStatus::NotServing).await;
        let (stopping_tx, stopping) = watch::channel(false);
        let probe = tokio::spawn(crate::health::watch_backends(
            self.archive.clone(),
            reporter.clone(),
            SERVICE_NAMES,
            self.settings.server.health_check_interval(),
            stopping.clone(),
        ));

        let reflection = |builder: tonic_reflection::server::Builder<'static>| {
            builder
                .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 =
            reflection(tonic_reflection::server::Builder::configure()).build_v1()?;
        let reflection_v1alpha =
            reflection(tonic_reflection::server::Builder::configure()).build_v1alpha()?;

        let services = ArchiveServices::new(self.archive.clone(), MAX_MESSAGE_BYTES);
        let signal = {
            let reporter = reporter.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: draining in-flight calls");
                let _ = stopping_tx.send(true);
                crate::health::set_all(&reporter, SERVICE_NAMES, ServingStatus::NotServing).await;
            }
        };
        tracing::info!(address = %self.local_addr(), "serving gRPC");
        let serve = Server::builder()
            // Large pages stream faster with windows bigger than HTTP/2's 64 KiB default.
            .initial_stream_window_size(Some(PART_SIZE as u32 / 4))
            .initial_connection_window_size(Some(PART_SIZE as u32))
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(services.customers)
            .add_service(services.documents)
            .add_service(services.pages)
            .add_service(services.document_types)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), signal);

        let grace = self.settings.server.shutdown_grace_period();
        let mut stopped = stopping;
        let outcome = tokio::select! {
            outcome = serve => outcome.context("the gRPC server failed"),
            _ = async {
                let _ = stopped.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over: dropping unfinished calls");
                Ok(())
            }
        };
        probe.abort();
        self.database.close().await;
        tracing::info!("stopped");
        outcome
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
