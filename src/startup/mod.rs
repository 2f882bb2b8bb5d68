//! Builds the server from settings and runs it until a shutdown signal, then drains. The
//! background jobs it runs are in `jobs`, the signal it stops on in `shutdown`.

mod jobs;
mod page_links;
mod probes;
mod shutdown;

pub use shutdown::shutdown_signal;

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

use self::jobs::{
    checkpoint_audit_chain, collect_orphans, finish_destructions, index_identifiers,
    reload_policy_on_hangup, render_pages, scrub_pages,
};
use crate::domain::{
    Archive, AuditCheckpointer, ChainKey, Clock, IdentifierKey, Policy, SystemClock,
};
use crate::grpc::middleware::tls::{self, Connection};
use crate::grpc::middleware::{Authenticator, Gate, Protection, TrustedKey};
use crate::grpc::{SERVICE_NAMES, routes};
use crate::settings::{AuthSettings, Settings};
use crate::storage::{
    AuditCheckpoints, AuditLog, Database, PART_SIZE, open_object_store, open_page_store,
};

/// The policy of the unsecured benchmark server: one role that may do everything.
#[cfg(feature = "bench-bypass")]
const OPEN_POLICY: &str = r#"
[roles.bench]
description = "benchmarks only"
permissions = ["read-customers", "create-customers", "update-customers", "read-documents",
               "read-pages", "file-documents", "read-catalog", "read-audit", "manage-rules",
               "correct-documents", "hold-records", "read-holds", "appraise-records",
               "approve-disposal"]
scope = "all"
clearance = "confidential"
personal_data = "full"

[systems.bench]
description = "benchmarks only"
roles = ["bench"]
"#;

/// How often a signed checkpoint of the audit chain's head goes to the object store (when the
/// head moved); one more is written at start and after the last events at shutdown.
const AUDIT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// How long queued audit events may take to be written after the server stopped.
const AUDIT_DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether calls are checked, authorised and audited: always, but in benchmark builds.
#[derive(Clone, Copy)]
enum Security {
    Enforced,
    /// A fixed actor with every right and no audit trail, to measure what security costs.
    #[cfg(feature = "bench-bypass")]
    Bypassed,
}

/// A server bound to its address, ready to run.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The plaintext health-only listener, when `server.health_listen_addr` is set.
    health_listener: Option<TcpListener>,
    /// The page link listener, when `page_links.mode` is `served`.
    link_listener: Option<page_links::LinkListener>,
    archive: Archive,
    gate: Gate,
    /// TLS on the listener, when `server.tls` names a certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
    audit_writer: JoinHandle<()>,
    checkpointer: AuditCheckpointer,
    database: Database,
    settings: Settings,
}

impl App {
    /// Connects the stores (lazily: a backend that is down makes the server NOT_SERVING, not
    /// absent), loads the policy and keys, and binds the listener, so that `local_addr` is
    /// known before `run`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::assemble(settings, Security::Enforced, Arc::new(SystemClock)).await
    }

    /// Builds the server with another clock for the archive's date rules (retention, disposal,
    /// filing dates): tests move it forward instead of waiting years.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::assemble(settings, Security::Enforced, clock).await
    }

    /// Builds a server without authentication, policy limits or audit trail. It exists only so
    /// that benchmarks can compare the secured path with the bare one in the same run: it is
    /// compiled only with the `bench-bypass` feature, which the production binary never has.
    #[cfg(feature = "bench-bypass")]
    pub async fn build_unsecured_for_benchmarks(settings: Settings) -> anyhow::Result<Self> {
        Self::assemble(settings, Security::Bypassed, Arc::new(SystemClock)).await
    }

    async fn assemble(
        settings: Settings,
        security: Security,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let policy = match security {
            Security::Enforced => {
                settings.auth.check_audit_chain_key()?;
                settings.auth.check_identifier_key()?;
                load_policy(&settings.auth.policy_file)?
            }
            #[cfg(feature = "bench-bypass")]
            Security::Bypassed => open_policy()?,
        };
        let database = Database::connect_lazy_with_timeouts(
            &settings.database.url,
            settings.database.max_connections,
            Duration::from_secs(settings.database.acquire_timeout_secs),
            chain_key(&settings.auth),
            settings.database.statement_timeouts(),
        )
        .context("invalid database settings")?
        .with_identifier_key(identifier_key(&settings.auth));
        let pages =
            open_page_store(&settings.object_store).context("invalid object store settings")?;
        let (audit, audit_writer) = match security {
            Security::Enforced => AuditLog::start(database.clone()),
            #[cfg(feature = "bench-bypass")]
            Security::Bypassed => (AuditLog::discarding(), tokio::spawn(async {})),
        };
        // Checkpoints go to the same store as the pages, under a prefix of their own.
        let checkpoints = AuditCheckpoints::new(
            open_object_store(&settings.object_store).context("invalid object store settings")?,
        );
        let checkpointer = AuditCheckpointer::new(database.clone(), checkpoints.clone());
        let archive = Archive::new(
            database.clone(),
            pages,
            settings.limits.into(),
            policy,
            audit,
            checkpoints,
            clock,
        )
        .with_heavy_work_limit(settings.server.max_heavy_requests)
        .with_filing_buffer(settings.limits.filing_buffer_bytes)
        .with_rendition_queue(settings.renditions.queue())
        .with_rendition_limits(settings.renditions.limits());
        let (links, link_listener) = page_links::page_links(&settings).await?;
        let archive = match links {
            Some(links) => archive.with_page_links(links),
            None => archive,
        };
        let gate = match security {
            Security::Enforced => Gate::Tokens(Box::new(Authenticator::new(
                load_keys(&settings.auth)?,
                settings.auth.issuer.clone(),
                settings.auth.audience.clone(),
                settings.auth.leeway_secs,
                archive.clone(),
            ))),
            #[cfg(feature = "bench-bypass")]
            Security::Bypassed => Gate::Fixed(bench_actor()),
        };
        let tls = if settings.server.tls.enabled() {
            Some(tls::acceptor(&settings.server.tls).context("invalid server.tls settings")?)
        } else {
            None
        };
        let listener = TcpListener::bind(settings.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen_addr))?;
        let local_addr = listener
            .local_addr()
            .context("the listener has no local address")?;
        let health_listener = match settings.server.health_listen_addr {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} for probes"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            local_addr,
            health_listener,
            link_listener,
            archive,
            gate,
            tls,
            audit_writer,
            checkpointer,
            database,
            settings,
        })
    }

    /// The address the server listens on (the port chosen, when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the plaintext probe listener, when there is one.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The address of the page link listener, when there is one.
    pub fn page_links_addr(&self) -> Option<SocketAddr> {
        self.link_listener
            .as_ref()
            .and_then(page_links::LinkListener::local_addr)
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
        tokio::spawn(index_identifiers(self.database.clone(), stopping.clone()));
        tokio::spawn(checkpoint_audit_chain(
            self.checkpointer.clone(),
            AUDIT_CHECKPOINT_INTERVAL,
            stopping.clone(),
        ));
        tokio::spawn(collect_orphans(
            self.archive.clone(),
            self.settings.orphans,
            stopping.clone(),
        ));
        tokio::spawn(scrub_pages(
            self.archive.clone(),
            self.settings.fixity,
            stopping.clone(),
        ));
        for _ in 0..self.settings.renditions.workers {
            tokio::spawn(render_pages(
                self.archive.clone(),
                self.settings.renditions.poll_interval(),
                stopping.clone(),
            ));
        }
        let pool = self.database.clone();
        crate::metrics::observe_pool(move || pool.pool_connections());
        tracing::info!(address = %self.local_addr(), "serving gRPC");
        let routes = routes(self.archive.clone(), protection.max_message_bytes())?;
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
        // Lingering close keeps a drain from resetting the end of the last streams; a
        // connection beyond `server.max_connections` is closed as soon as it is accepted.
        let connections = protection.clone();
        let incoming = TcpIncoming::from(self.listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)))
            .filter_map(move |connection| {
                std::future::ready(match connection {
                    Ok(stream) => connections.admit_connection(stream).map(Ok),
                    Err(error) => Some(Err(error)),
                })
            });
        // TLS, when configured, is terminated here: see `middleware::tls`.
        let incoming = match &self.tls {
            Some(acceptor) => tls::handshakes(incoming, acceptor.clone()).boxed(),
            None => incoming
                .map(|connection| connection.map(Connection::Plain))
                .boxed(),
        };
        let health_service = health_service
            .max_decoding_message_size(protection.max_health_message_bytes())
            .max_encoding_message_size(protection.max_health_message_bytes());
        let probes = self.health_listener.map(|listener| {
            tracing::info!(address = ?listener.local_addr().ok(), "serving health for probes");
            tokio::spawn(probes::serve_health(
                listener,
                health_service.clone(),
                protection.clone(),
            ))
        });
        let links = self
            .link_listener
            .map(|listener| listener.spawn(self.archive.clone()));
        let serve = Server::builder()
            // Large pages stream faster with windows bigger than HTTP/2's 64 KiB default.
            .initial_stream_window_size(Some(PART_SIZE as u32 / 4))
            .initial_connection_window_size(Some(PART_SIZE as u32))
            .http2_keepalive_interval(protection.http2_keepalive_interval())
            .http2_keepalive_timeout(protection.http2_keepalive_timeout())
            .max_concurrent_streams(protection.max_concurrent_streams())
            // Span, admission, authentication, unary timeout: see `middleware::stack`.
            .layer(crate::grpc::middleware::stack(&protection, self.gate))
            .add_routes(routes)
            // Health stays reachable without a token, for probes and load balancers.
            .add_service(health_service)
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
        for task in [probes, links].into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
        // The writer ends once the last handle to the audit log is gone and its queue is empty.
        drop(self.archive);
        if tokio::time::timeout(AUDIT_DRAIN_TIMEOUT, self.audit_writer)
            .await
            .is_err()
        {
            tracing::error!("queued audit events could not be written before shutdown");
        }
        // The head as it stands after the last events: a truncation after the stop shows too.
        // Bounded: a store that is down (and retried by its client) must not hold the exit.
        match tokio::time::timeout(AUDIT_DRAIN_TIMEOUT, self.checkpointer.checkpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "no checkpoint of the audit chain at shutdown"
            ),
            Err(_) => tracing::error!("no checkpoint of the audit chain at shutdown: timed out"),
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

/// The blind index's key, from the settings; `None` when unset.
pub fn identifier_key(auth: &AuthSettings) -> Option<IdentifierKey> {
    let key = auth.identifier_key.expose_secret();
    (!key.is_empty()).then(|| IdentifierKey::new(key.as_bytes().to_vec()))
}

/// The audit chain's key, from the settings.
pub fn chain_key(auth: &AuthSettings) -> ChainKey {
    ChainKey::new(auth.audit_chain_key.expose_secret().as_bytes().to_vec())
}

#[cfg(feature = "bench-bypass")]
fn open_policy() -> anyhow::Result<Policy> {
    Policy::parse(OPEN_POLICY).map_err(|reason| anyhow::anyhow!(reason))
}

#[cfg(feature = "bench-bypass")]
fn bench_actor() -> crate::domain::Actor {
    crate::domain::Actor {
        system: "bench".into(),
        person: "bench".into(),
        role: "bench".into(),
        org_unit: None,
        account: None,
        request_id: "bench".into(),
    }
}
