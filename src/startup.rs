//! Builds the server from settings and runs it until a shutdown signal, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::domain::{Actor, Archive, ChainKey, Clock, Policy, SystemClock};
use crate::grpc::auth::{Authenticator, FixedActor, TrustedKey, tag_method};
use crate::grpc::limits::Protection;
use crate::grpc::linger::LingeringClose;
use crate::grpc::{RpcSpanLayer, SERVICE_NAMES, authenticated_routes};
use crate::settings::{AuthSettings, Settings};
use crate::storage::{AuditLog, Database, PART_SIZE, PageStore, open_object_store};

/// The policy of the unsecured benchmark server: one role that may do everything.
const OPEN_POLICY: &str = r#"
[roles.bench]
description = "benchmarks only"
permissions = ["read-customers", "create-customers", "update-customers", "read-documents",
               "read-pages", "file-documents", "read-catalog", "read-audit", "manage-rules",
               "correct-documents", "hold-records", "appraise-records", "approve-disposal"]
scope = "all"
clearance = "confidential"
personal_data = "full"

[systems.bench]
description = "benchmarks only"
roles = ["bench"]
"#;

/// How long queued audit events may take to be written after the server stopped.
const AUDIT_DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// How calls get their actor.
enum Gate {
    /// From a verified bearer token: always, except in benchmarks.
    Tokens(Authenticator),
    /// A fixed actor with every right and no audit trail, to measure what security costs.
    Open(FixedActor),
}

/// A server bound to its address, ready to run.
pub struct App {
    listener: TcpListener,
    archive: Archive,
    gate: Gate,
    audit_writer: JoinHandle<()>,
    database: Database,
    settings: Settings,
}

impl App {
    /// Connects the stores (lazily: a backend that is down makes the server NOT_SERVING, not
    /// absent), loads the policy and keys, and binds the listener, so that `local_addr` is
    /// known before `run`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::assemble(settings, true, Arc::new(SystemClock)).await
    }

    /// Builds the server with another clock for the archive's date rules (retention, disposal,
    /// filing dates): tests move it forward instead of waiting years.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::assemble(settings, true, clock).await
    }

    /// Builds a server without authentication, policy limits or audit trail. It exists only so
    /// that benchmarks can compare the secured path with the bare one in the same run; neither
    /// configuration nor the CLI can reach it.
    #[doc(hidden)]
    pub async fn build_unsecured_for_benchmarks(settings: Settings) -> anyhow::Result<Self> {
        Self::assemble(settings, false, Arc::new(SystemClock)).await
    }

    async fn assemble(
        settings: Settings,
        secured: bool,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let policy = if secured {
            load_policy(&settings.auth.policy_file)?
        } else {
            Policy::parse(OPEN_POLICY).map_err(|reason| anyhow::anyhow!(reason))?
        };
        let database = Database::connect_lazy(
            &settings.database.url,
            settings.database.max_connections,
            Duration::from_secs(settings.database.acquire_timeout_secs),
            chain_key(&settings.auth),
        )
        .context("invalid database settings")?;
        let store =
            open_object_store(&settings.object_store).context("invalid object store settings")?;
        let (audit, audit_writer) = if secured {
            AuditLog::start(database.clone())
        } else {
            (AuditLog::discarding(), tokio::spawn(async {}))
        };
        let archive = Archive::new(
            database.clone(),
            PageStore::new(store),
            settings.limits.into(),
            policy,
            audit,
            clock,
        );
        let gate = if secured {
            Gate::Tokens(Authenticator::new(
                load_keys(&settings.auth)?,
                settings.auth.issuer.clone(),
                settings.auth.audience.clone(),
                settings.auth.leeway_secs,
                archive.clone(),
            ))
        } else {
            Gate::Open(FixedActor(Actor {
                system: "bench".into(),
                person: "bench".into(),
                role: "bench".into(),
                org_unit: None,
                account: None,
                request_id: "bench".into(),
            }))
        };
        let listener = TcpListener::bind(settings.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen_addr))?;
        Ok(Self {
            listener,
            archive,
            gate,
            audit_writer,
            database,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.settings.server.listen_addr)
    }

    /// Serves until `shutdown` resolves; then reports NOT_SERVING, stops accepting calls, lets
    /// in-flight ones finish within the grace period and writes the queued audit events.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let protection =
            Protection::new(&self.settings.server).context("invalid server settings")?;
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
        let reloader = tokio::spawn(reload_policy_on_hangup(
            self.archive.clone(),
            self.settings.auth.policy_file.clone(),
        ));
        tokio::spawn(finish_destructions(self.archive.clone(), stopping.clone()));
        let pool = self.database.clone();
        crate::metrics::observe_pool(move || pool.pool_connections());
        tracing::info!(address = %self.local_addr(), "serving gRPC");
        let routes = match self.gate {
            Gate::Tokens(authenticator) => authenticated_routes(
                self.archive.clone(),
                authenticator,
                protection.max_message_bytes(),
            )?,
            Gate::Open(actor) => {
                authenticated_routes(self.archive.clone(), actor, protection.max_message_bytes())?
            }
        };
        let signal = {
            let reporter = reporter.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: draining in-flight calls");
                let _ = stopping_tx.send(true);
                crate::health::set_all(&reporter, SERVICE_NAMES, ServingStatus::NotServing).await;
            }
        };
        // serve_with_incoming ignores the builder's TCP options: set them on the listener.
        // Without TCP_NODELAY every response waits ~40 ms for a delayed ACK.
        // Lingering close keeps a drain from resetting the end of the last streams.
        let incoming = TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)))
            .map(|connection| connection.map(LingeringClose::new));
        let serve = Server::builder()
            // Large pages stream faster with windows bigger than HTTP/2's 64 KiB default.
            .initial_stream_window_size(Some(PART_SIZE as u32 / 4))
            .initial_connection_window_size(Some(PART_SIZE as u32))
            .http2_keepalive_interval(protection.http2_keepalive_interval())
            .http2_keepalive_timeout(protection.http2_keepalive_timeout())
            .max_concurrent_streams(protection.max_concurrent_streams())
            .layer(tower::util::MapRequestLayer::new(tag_method))
            .layer(RpcSpanLayer)
            // Admission and the unary timeout: see `Protection::layer` for their order.
            .layer(protection.layer())
            .add_routes(routes)
            // Health stays reachable without a token, for probes and load balancers.
            .add_service(
                health_service
                    .max_decoding_message_size(protection.max_message_bytes())
                    .max_encoding_message_size(protection.max_message_bytes()),
            )
            .serve_with_incoming_shutdown(incoming, signal);

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
        reloader.abort();
        let _ = tokio::join!(probe, reloader);
        // The writer ends once the last handle to the audit log is gone and its queue is empty.
        drop(self.archive);
        if tokio::time::timeout(AUDIT_DRAIN_TIMEOUT, self.audit_writer)
            .await
            .is_err()
        {
            tracing::error!("queued audit events could not be written before shutdown");
        }
        self.database.close().await;
        tracing::info!("stopped");
        outcome
    }
}

/// Reads and checks the policy file.
pub fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    Policy::parse(&text)
        .map_err(|reason| anyhow::anyhow!("invalid policy {}: {reason}", path.display()))
}

fn load_keys(auth: &AuthSettings) -> anyhow::Result<Vec<TrustedKey>> {
    let configured = auth
        .public_key_file
        .iter()
        .map(|file| (file.clone(), auth.algorithm.clone()))
        .chain(
            auth.keys
                .iter()
                .map(|k| (k.public_key_file.clone(), k.algorithm.clone())),
        );
    let keys = configured
        .map(|(file, algorithm): (PathBuf, String)| {
            let pem = std::fs::read(&file)
                .with_context(|| format!("cannot read the token key {}", file.display()))?;
            TrustedKey::from_pem(&algorithm, &pem)
                .with_context(|| format!("invalid token key {}", file.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(
        !keys.is_empty(),
        "no token verification key: set auth.public_key_file (CUSTODIAN_AUTH__PUBLIC_KEY_FILE)"
    );
    Ok(keys)
}

/// The audit chain's key, from the settings.
pub fn chain_key(auth: &AuthSettings) -> ChainKey {
    ChainKey::new(auth.audit_chain_key.expose_secret().as_bytes().to_vec())
}

/// Re-reads the policy on SIGHUP; a policy that does not parse leaves the old one in force.
/// Deletes the page objects a disposal committed but a crash kept from deleting.
/// How often queued page deletions of disposals are retried after the one at start.
const DESTRUCTION_SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// Deletes the page objects disposals committed but could not delete yet (a crash right after
/// the approval, the store down): at start, then every few minutes until the server stops.
async fn finish_destructions(archive: Archive, mut stopping: watch::Receiver<bool>) {
    let mut sweep = tokio::time::interval(DESTRUCTION_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = sweep.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        match archive.delete_destroyed_contents().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted page objects of earlier disposals"),
            Err(error) => {
                tracing::warn!(error = %error, "page objects of earlier disposals not deleted yet")
            }
        }
    }
}

async fn reload_policy_on_hangup(archive: Archive, path: PathBuf) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the policy will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match load_policy(&path) {
                Ok(policy) => {
                    archive.replace_policy(policy);
                    tracing::info!(path = %path.display(), "policy reloaded");
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), "policy not reloaded"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (archive, path);
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
