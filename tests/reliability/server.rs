//! The server under test as its own process: `custodian serve` configured by environment, as
//! `make run` does, on the test's own database and key prefix; it can be killed with SIGKILL
//! and started again on the same address and data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custodian::storage::{ObjectStoreKind, ObjectStoreSettings, open_object_store};
use object_store::ObjectStore;
use secrecy::{ExposeSecret as _, SecretString};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{AUDIENCE, AUDIT_CHAIN_KEY, ISSUER, fixture, repository_file, s3_settings};

/// Where the server finds its backends.
#[derive(Clone)]
pub struct Backends {
    pub database_url: SecretString,
    pub s3_endpoint: String,
    pub object_prefix: String,
}

impl Backends {
    /// A fresh database and key prefix, reached directly.
    pub async fn fresh() -> Self {
        Self {
            database_url: crate::helpers::fresh_database().await,
            s3_endpoint: s3_settings().endpoint,
            object_prefix: format!("tests/reliability/{}", uuid::Uuid::new_v4()),
        }
    }

    /// The test's own view of the page objects (below its prefix, straight to the store).
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        open_object_store(&ObjectStoreSettings {
            kind: ObjectStoreKind::S3,
            prefix: self.object_prefix.clone(),
            s3: Some(s3_settings()),
            ..ObjectStoreSettings::default()
        })
        .expect("object store settings")
    }

    /// The `CUSTODIAN_*` environment of a server (or the CLI) on these backends.
    pub fn environment(&self) -> Vec<(String, String)> {
        let s3 = s3_settings();
        let pairs = [
            (
                "DATABASE__URL",
                self.database_url.expose_secret().to_owned(),
            ),
            ("DATABASE__MAX_CONNECTIONS", "8".into()),
            ("DATABASE__ACQUIRE_TIMEOUT_SECS", "2".into()),
            ("OBJECT_STORE__KIND", "s3".into()),
            ("OBJECT_STORE__PREFIX", self.object_prefix.clone()),
            ("OBJECT_STORE__S3__ENDPOINT", self.s3_endpoint.clone()),
            ("OBJECT_STORE__S3__BUCKET", s3.bucket),
            ("OBJECT_STORE__S3__REGION", s3.region),
            ("OBJECT_STORE__S3__ACCESS_KEY_ID", s3.access_key_id),
            (
                "OBJECT_STORE__S3__SECRET_ACCESS_KEY",
                s3.secret_access_key.expose_secret().to_owned(),
            ),
            ("OBJECT_STORE__S3__ALLOW_HTTP", "true".into()),
            ("AUTH__ISSUER", ISSUER.into()),
            ("AUTH__AUDIENCE", AUDIENCE.into()),
            (
                "AUTH__PUBLIC_KEY_FILE",
                path_text(fixture("issuer-ed25519.pub.pem")),
            ),
            ("AUTH__ALGORITHM", "EdDSA".into()),
            (
                "AUTH__POLICY_FILE",
                path_text(repository_file("config/policy.toml")),
            ),
            ("AUTH__AUDIT_CHAIN_KEY", AUDIT_CHAIN_KEY.into()),
        ];
        pairs
            .into_iter()
            .map(|(key, value)| (format!("CUSTODIAN_{key}"), value))
            .collect()
    }
}

fn path_text(path: PathBuf) -> String {
    path.to_str()
        .expect("repository paths are UTF-8")
        .to_owned()
}

/// `custodian serve` as a child process.
pub struct ServerProcess {
    pub address: SocketAddr,
    environment: Vec<(String, String)>,
    child: Option<Child>,
    /// The server's log (stderr), kept for a failing run to read.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts the server on `backends` with these extra settings and waits until it serves.
    pub async fn start(backends: &Backends, settings: &[(&str, &str)]) -> Self {
        let address = free_port();
        let mut environment = backends.environment();
        environment.extend([
            ("CUSTODIAN_SERVER__LISTEN_ADDR".into(), address.to_string()),
            (
                "CUSTODIAN_SERVER__HEALTH_CHECK_INTERVAL_MS".into(),
                "200".into(),
            ),
            (
                "CUSTODIAN_SERVER__SHUTDOWN_GRACE_PERIOD_SECS".into(),
                "2".into(),
            ),
            // The test runs the collector itself, to count what it removes.
            ("CUSTODIAN_ORPHANS__SWEEP_INTERVAL_SECS".into(), "0".into()),
            ("CUSTODIAN_FIXITY__PAGES_PER_MINUTE".into(), "0".into()),
            ("CUSTODIAN_LOG__FILTER".into(), "warn".into()),
        ]);
        for (key, value) in settings {
            environment.push((format!("CUSTODIAN_{key}"), (*value).into()));
        }
        let log = std::env::temp_dir().join(format!(
            "custodian-reliability-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let mut server = Self {
            address,
            environment,
            child: None,
            log,
        };
        server.spawn();
        server
            .wait_until(ServingStatus::Serving, Duration::from_secs(30))
            .await;
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server log opens");
        let child = Command::new(env!("CARGO_BIN_EXE_custodian"))
            .arg("serve")
            .env_remove("RUST_LOG")
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the server starts");
        self.child = Some(child);
    }

    /// SIGKILL: no drain, no last checkpoint, no flush of the audit queue.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("the server is killed");
            child.wait().expect("the killed server is reaped");
        }
    }

    /// Starts the server again on the same address and data, and waits until it serves.
    /// Returns how long that took.
    pub async fn restart(&mut self) -> Duration {
        let started = Instant::now();
        self.spawn();
        self.wait_until(ServingStatus::Serving, Duration::from_secs(30))
            .await;
        started.elapsed()
    }

    /// A channel to the server that reconnects by itself after a restart.
    pub fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("a valid uri")
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy()
    }

    /// Waits until the health service reports `status`; panics after `deadline`.
    pub async fn wait_until(&mut self, status: ServingStatus, deadline: Duration) {
        let started = Instant::now();
        let channel = self.channel();
        loop {
            if health_of(channel.clone()).await == Some(status) {
                return;
            }
            if let Some(Ok(Some(exit))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "the server exited ({exit}); its log: {}",
                    self.log.display()
                );
            }
            assert!(
                started.elapsed() < deadline,
                "the server is not {status:?} after {deadline:?}; its log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `custodian verify-audit-chain` with the server's settings; returns its output.
    pub fn verify_audit_chain_cli(&self) -> Result<String, String> {
        let output = Command::new(env!("CARGO_BIN_EXE_custodian"))
            .arg("verify-audit-chain")
            .env_remove("RUST_LOG")
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("the CLI runs");
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "{text} {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn health_of(channel: Channel) -> Option<ServingStatus> {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_secs(1));
    let reply = client.check(request).await.ok()?;
    Some(reply.into_inner().status())
}

fn free_port() -> SocketAddr {
    // Bound and released: the server binds it a moment later (127.0.0.1 only).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}
