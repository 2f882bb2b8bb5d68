//! The server under test: the release `custodian serve` binary as its own process (or one
//! already running), configured through `CUSTODIAN_*` variables, with its resident memory
//! sampled from /proc while the workloads run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::{OBJECT_PREFIX, Preset, env, repository_file};

/// Tokens the benchmark mints are signed with this test key (tests/fixtures) and issuer.
pub const ISSUER: &str = "custodian-bench";

/// A server the benchmark talks to.
pub struct Server {
    pub address: SocketAddr,
    child: Option<Child>,
    pub pid: Option<u32>,
    rss: Arc<RssPeak>,
}

/// How the benchmark starts its servers.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    /// Run the server under `perf record -g`, writing `perf-<preset>.data` here.
    pub perf: bool,
    /// Extra `KEY=VALUE` environment for the server, e.g. a pool size to try.
    pub extra_env: Vec<(String, String)>,
}

impl Launch {
    /// The release binary next to this bench binary (`target/release/deps/county-…`).
    pub fn default_binary() -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("custodian")))
            .unwrap_or_else(|| PathBuf::from("target/release/custodian"))
    }
}

impl Server {
    /// Starts `custodian serve` on the preset's database and waits until it is SERVING.
    pub async fn start(launch: &Launch, preset: Preset) -> anyhow::Result<Self> {
        anyhow::ensure!(
            launch.binary.exists(),
            "{} not found: run `cargo build --release` first (or pass --server-binary)",
            launch.binary.display()
        );
        let address = free_port()?;
        let mut command = if launch.perf {
            let mut command = Command::new("perf");
            command
                .args(["record", "-g", "-F", "999", "-o"])
                .arg(format!("perf-{}.data", preset.name()))
                .arg("--")
                .arg(&launch.binary);
            command
        } else {
            Command::new(&launch.binary)
        };
        command
            .arg("serve")
            .env("CUSTODIAN_SERVER__LISTEN_ADDR", address.to_string())
            .env("CUSTODIAN_DATABASE__URL", preset.database_url()?)
            .env("CUSTODIAN_OBJECT_STORE__KIND", "s3")
            .env("CUSTODIAN_OBJECT_STORE__PREFIX", OBJECT_PREFIX)
            .env("CUSTODIAN_OBJECT_STORE__S3__ALLOW_HTTP", "true")
            .env(
                "CUSTODIAN_AUTH__PUBLIC_KEY_FILE",
                repository_file("tests/fixtures/issuer-ed25519.pub.pem"),
            )
            .env("CUSTODIAN_AUTH__ALGORITHM", "EdDSA")
            .env("CUSTODIAN_AUTH__ISSUER", ISSUER)
            .env(
                "CUSTODIAN_AUTH__AUDIT_CHAIN_KEY",
                "bench-county-audit-chain-key-of-32-bytes-or-more",
            )
            // The key the generator wrote the blind index under: nothing to backfill.
            .env(
                "CUSTODIAN_AUTH__IDENTIFIER_KEY",
                crate::dataset::IDENTIFIER_KEY,
            )
            .env(
                "CUSTODIAN_AUTH__POLICY_FILE",
                repository_file("config/policy.toml"),
            )
            .env("CUSTODIAN_SERVER__HEALTH_CHECK_INTERVAL_MS", "1000")
            // Page URLs presigned by the store (SignPageUrls), no listener to collide on.
            .env("CUSTODIAN_PAGE_LINKS__MODE", "presigned")
            // A server's rendition worker wakes at once for its own filings; it never polls for
            // what another server on the same database queued (the renditions group runs a
            // second server with no workers, whose queue must stay its own).
            .env("CUSTODIAN_RENDITIONS__POLL_INTERVAL_MS", "86400000")
            .env("CUSTODIAN_LOG__FILTER", "warn")
            .envs(
                launch
                    .extra_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null());
        // The S3 endpoint and credentials come from the services' environment as they are.
        for name in [
            "CUSTODIAN_OBJECT_STORE__S3__ENDPOINT",
            "CUSTODIAN_OBJECT_STORE__S3__BUCKET",
            "CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID",
            "CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY",
        ] {
            command.env(name, env(name)?);
        }
        let child = command.spawn()?;
        let pid = if launch.perf {
            // perf forks the server: find the child of perf that is the server.
            wait_for_child_pid(child.id()).await?
        } else {
            child.id()
        };
        let server = Self {
            address,
            child: Some(child),
            pid: Some(pid),
            rss: RssPeak::start(Some(pid)),
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    /// A server someone else runs; its memory is sampled only when its pid is given.
    pub async fn existing(address: SocketAddr, pid: Option<u32>) -> anyhow::Result<Self> {
        let server = Self {
            address,
            child: None,
            pid,
            rss: RssPeak::start(pid),
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let status = async {
                let channel =
                    tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))?
                        .connect()
                        .await?;
                let mut client = HealthClient::new(channel);
                let reply = client.check(HealthCheckRequest::default()).await?;
                anyhow::Ok(reply.into_inner().status())
            }
            .await;
            if let Ok(ServingStatus::Serving) = status {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the server at {} is not SERVING after 30 s: {status:?}",
                self.address
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Resident memory now, in bytes.
    pub fn rss_now(&self) -> Option<u64> {
        self.pid.and_then(rss_of)
    }

    /// Starts a new peak measurement and returns the memory at its start.
    pub fn reset_rss_peak(&self) -> Option<u64> {
        let now = self.rss_now()?;
        self.rss.peak.store(now, Ordering::Relaxed);
        Some(now)
    }

    /// The highest resident memory sampled since the last reset.
    pub fn rss_peak(&self) -> Option<u64> {
        self.pid.map(|_| self.rss.peak.load(Ordering::Relaxed))
    }

    /// Stops a server this benchmark started (SIGTERM, so perf writes its data).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // perf forwards SIGINT to the server and then finishes its file.
        let signal = if child.id() != self.pid.unwrap_or(0) {
            "-INT"
        } else {
            "-TERM"
        };
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The peak of the samples taken every 20 ms.
struct RssPeak {
    peak: AtomicU64,
}

impl RssPeak {
    fn start(pid: Option<u32>) -> Arc<Self> {
        let peak = Arc::new(Self {
            peak: AtomicU64::new(0),
        });
        if let Some(pid) = pid {
            let sampler = Arc::downgrade(&peak);
            tokio::spawn(async move {
                while let Some(peak) = sampler.upgrade() {
                    if let Some(rss) = rss_of(pid) {
                        peak.peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    drop(peak);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
        peak
    }
}

/// VmRSS of a process, from /proc/<pid>/status.
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn free_port() -> anyhow::Result<SocketAddr> {
    // Bound and released: the server binds it a moment later (127.0.0.1 only).
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

async fn wait_for_child_pid(parent: u32) -> anyhow::Result<u32> {
    for _ in 0..100 {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return Ok(pid.parse()?);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("perf did not start the server")
}
