//! Configuration: built-in defaults, then an optional TOML file, then `CUSTODIAN_*`
//! environment variables (`CUSTODIAN_SECTION__KEY`, e.g. `CUSTODIAN_DATABASE__URL`).
//!
//! The defaults are written once, in the `Default` of each section: the server, the tests and
//! the benchmarks all start from [`Settings::defaults`]. Two settings have no default and must
//! be given: `database.url` and `auth.audit_chain_key`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::FilingLimits;
use crate::storage::{ObjectStoreSettings, StatementTimeouts};

mod renditions;

pub use renditions::RenditionSettings;

/// Every setting of the service. The README and the Helm chart document the same keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub object_store: ObjectStoreSettings,
    pub limits: LimitSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub orphans: OrphanSettings,
    pub fixity: FixitySettings,
    pub page_links: crate::links::PageLinkSettings,
    pub renditions: RenditionSettings,
}

/// Who may call, and how calls are recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// A PEM public key tokens are verified with (shorthand for one entry of `keys`).
    pub public_key_file: Option<PathBuf>,
    /// The algorithm of `public_key_file`: `EdDSA`, `RS256` or `ES256`.
    pub algorithm: String,
    /// Further verification keys, for rotation.
    pub keys: Vec<VerificationKey>,
    /// The access policy (TOML); reloaded on SIGHUP.
    pub policy_file: PathBuf,
    /// The secret the audit chain's HMAC is keyed with. Keep it out of the database's reach.
    /// The server refuses to start with one shorter than [`MIN_AUDIT_CHAIN_KEY_BYTES`].
    pub audit_chain_key: SecretString,
    /// The secret the blind index of ID numbers and phones is keyed with (HMAC-SHA256), so a
    /// database dump yields no searchable list of them. Keep it out of the database's reach,
    /// apart from the audit chain key. Empty: ID number and phone search is refused
    /// (FAILED_PRECONDITION) and nothing is indexed until one is set; the server then digests
    /// the existing rows at start. Changing it re-digests every row at the next start.
    pub identifier_key: SecretString,
}

/// The shortest `auth.audit_chain_key` the server accepts: 32 bytes, as `openssl rand -hex 16`
/// prints (`-hex 32` is better).
pub const MIN_AUDIT_CHAIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
pub struct VerificationKey {
    pub public_key_file: PathBuf,
    pub algorithm: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Where gRPC is served.
    pub listen_addr: SocketAddr,
    /// Where the health service alone is also served, in plaintext, for probes that cannot
    /// speak TLS (the kubelet's); unset: nowhere else.
    pub health_listen_addr: Option<SocketAddr>,
    /// How long in-flight calls may run on after a shutdown signal.
    pub shutdown_grace_period_secs: u64,
    /// How often the backends are probed for the health service, in milliseconds.
    pub health_check_interval_ms: u64,
    /// Calls in flight at once over all connections (health excepted); more are refused
    /// with RESOURCE_EXHAUSTED rather than queued. 0 turns the limit off.
    pub max_concurrent_requests: usize,
    /// Calls one caller (one person of one system) may have in flight at once; more are
    /// refused with RESOURCE_EXHAUSTED, so no caller can take every place. 0 turns it off.
    pub max_requests_per_caller: usize,
    /// Heavy calls (the org-unit completeness report, audit chain verification) running at
    /// once; more are refused with RESOURCE_EXHAUSTED, so reports cannot take the database
    /// pool from the counter's calls. They count among `max_concurrent_requests` too.
    pub max_heavy_requests: usize,
    /// The longest a unary call may run (streaming calls are exempt). 0 turns it off.
    pub unary_timeout_secs: u64,
    /// How long a reply (a ReadPage stream, a report, any answer) may wait for its caller to
    /// read on before it is cut off and its place given back. 0 turns it off.
    pub reply_stall_timeout_secs: u64,
    /// The largest gRPC message decoded or encoded, on every service.
    pub max_message_bytes: usize,
    /// Connections open at once; one more is closed as soon as it is accepted. Each can hold
    /// up to the HTTP/2 connection window (8 MiB) of data the server has not read yet, so
    /// `max_connections × 8 MiB` plus the filings must fit the pod's memory. 0: no limit.
    pub max_connections: usize,
    /// HTTP/2 streams a connection may have open at once. 0 leaves it unlimited.
    pub max_concurrent_streams_per_connection: u32,
    /// How long a connection may stay silent before the server pings it, to find dead peers.
    /// 0 turns the pings off.
    pub http2_keepalive_interval_secs: u64,
    /// How long a ping may go unanswered before the connection is closed.
    pub http2_keepalive_timeout_secs: u64,
    /// TLS on the gRPC listener; without a certificate it speaks plaintext.
    pub tls: TlsSettings,
}

/// The listener's certificate, re-read when its files change, and the CA client certificates
/// must be signed by (mutual TLS). Paths are PEM files; empty means unset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// The certificate chain, leaf first.
    pub cert_file: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// When set, callers must present a certificate signed by it, with a DNS SAN equal to
    /// their token's `client_id`.
    pub client_ca_file: String,
}

impl TlsSettings {
    /// Whether the listener speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`.
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    /// PostgreSQL's `statement_timeout` for every statement but the single-document reads:
    /// a statement still running after it is cancelled, so a call the server gave up on does
    /// not leave its query running. 0: no limit.
    pub statement_timeout_secs: u64,
    /// The same for the batched single-document reads (GetDocument, ReadPage), which take
    /// milliseconds. 0: no limit.
    pub lookup_statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    pub max_page_bytes: u64,
    pub max_document_bytes: u64,
    pub max_pages_per_document: u32,
    /// A filing whose caller sends nothing for this long is abandoned.
    pub filing_idle_timeout_secs: u64,
    /// Page bytes every filing and correction together may hold in memory (each page at most
    /// 16 MiB of it); a page that finds none left waits, then is refused RESOURCE_EXHAUSTED.
    pub filing_buffer_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `custodian=debug,info`.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Where traces go.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// An OTLP/gRPC collector, e.g. `http://otel-collector:4317`; empty turns tracing off.
    pub otlp_endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

/// The collector of orphan page objects: objects no page row refers to (left by filings that
/// failed after uploading), and stale `staging/` uploads.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct OrphanSettings {
    /// Objects younger than this are left alone: a filing may still be committing them.
    pub grace_period_secs: u64,
    /// How often one replica collects (the replicas take turns through the database); `0`
    /// turns the collector off.
    pub sweep_interval_secs: u64,
}

/// The fixity scrub: stored pages re-read and re-hashed against their content address.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct FixitySettings {
    /// Page contents each replica re-reads per minute, longest unchecked first; `0` turns the
    /// scrub off.
    pub pages_per_minute: u32,
}

impl Default for FixitySettings {
    fn default() -> Self {
        Self {
            pages_per_minute: 30,
        }
    }
}

impl Settings {
    /// The built-in defaults, which a settings file and the environment override. They have
    /// no database URL and no audit chain key: [`Settings::load`] refuses to start without.
    pub fn defaults() -> Self {
        Self::default()
    }

    /// Loads the settings from the defaults, `file` (if any) and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, None)
    }

    /// Loads the settings as [`Settings::load`] does, with `environment` standing in for the
    /// process environment when given (tests must not change the environment other tests read).
    fn load_from(
        file: Option<&Path>,
        environment: Option<config::Map<String, String>>,
    ) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file));
        }
        let settings: Self = builder
            .add_source(
                config::Environment::with_prefix("CUSTODIAN")
                    .prefix_separator("_")
                    .separator("__")
                    .source(environment),
            )
            .build()?
            .try_deserialize()?;
        settings.check_required()?;
        Ok(settings)
    }

    /// Refuses settings that lack what has no default.
    pub fn check_required(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.database.url.expose_secret().is_empty(),
            "database.url is required (CUSTODIAN_DATABASE__URL), e.g. \
             postgres://user:password@host:5432/custodian"
        );
        anyhow::ensure!(
            !self.auth.audit_chain_key.expose_secret().is_empty(),
            "auth.audit_chain_key is required (CUSTODIAN_AUTH__AUDIT_CHAIN_KEY): the secret the \
             audit chain is keyed with"
        );
        Ok(())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            health_listen_addr: None,
            shutdown_grace_period_secs: 30,
            health_check_interval_ms: 5000,
            max_concurrent_requests: 256,
            // Half the places: a stalled or runaway caller leaves the other half to everyone
            // else, and a screen that fetches a hundred-page archive at once still fits.
            max_requests_per_caller: 128,
            max_heavy_requests: 4,
            unary_timeout_secs: 30,
            // Like a filing's idle timeout: a reader that has not taken a single chunk (1 MiB)
            // in a minute is not reading.
            reply_stall_timeout_secs: 60,
            // One ReadPage chunk (1 MiB) fits with room to spare; filings stream in chunks.
            max_message_bytes: 4 * 1024 * 1024 + 1024,
            // 64 × 8 MiB = 512 MiB: half of the chart's 1 GiB memory limit.
            max_connections: 64,
            max_concurrent_streams_per_connection: 128,
            http2_keepalive_interval_secs: 30,
            http2_keepalive_timeout_secs: 10,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from(""),
            max_connections: 16,
            acquire_timeout_secs: 5,
            // The unary timeout: a call cut off at it stops its statement too.
            statement_timeout_secs: 30,
            lookup_statement_timeout_ms: 5000,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_page_bytes: 64 * 1024 * 1024,
            max_document_bytes: 1024 * 1024 * 1024,
            max_pages_per_document: 1000,
            filing_idle_timeout_secs: 60,
            // With 64 connections × 8 MiB, within the chart's 1 GiB memory limit.
            filing_buffer_bytes: 384 * 1024 * 1024,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "custodian-dev".into(),
            audience: "custodian".into(),
            leeway_secs: 30,
            public_key_file: None,
            algorithm: "EdDSA".into(),
            keys: Vec::new(),
            policy_file: PathBuf::from("config/policy.toml"),
            audit_chain_key: SecretString::from(""),
            identifier_key: SecretString::from(""),
        }
    }
}

impl AuthSettings {
    /// Refuses an audit chain key too short to resist guessing: with it, anyone who can write
    /// the database could recompute the chain after editing it.
    pub fn check_audit_chain_key(&self) -> anyhow::Result<()> {
        let length = self.audit_chain_key.expose_secret().len();
        anyhow::ensure!(
            length >= MIN_AUDIT_CHAIN_KEY_BYTES,
            "auth.audit_chain_key (CUSTODIAN_AUTH__AUDIT_CHAIN_KEY) must be at least \
             {MIN_AUDIT_CHAIN_KEY_BYTES} bytes, it has {length}: make it with `openssl rand -hex 32`"
        );
        Ok(())
    }

    /// Refuses an identifier key too short to resist guessing, and one equal to the audit
    /// chain key (one leaked secret must not open both); empty means none.
    pub fn check_identifier_key(&self) -> anyhow::Result<()> {
        let key = self.identifier_key.expose_secret();
        if key.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            key.len() >= MIN_AUDIT_CHAIN_KEY_BYTES,
            "auth.identifier_key (CUSTODIAN_AUTH__IDENTIFIER_KEY) must be at least \
             {MIN_AUDIT_CHAIN_KEY_BYTES} bytes, it has {}: make it with `openssl rand -hex 32`",
            key.len()
        );
        anyhow::ensure!(
            key != self.audit_chain_key.expose_secret(),
            "auth.identifier_key must differ from auth.audit_chain_key"
        );
        Ok(())
    }
}

impl Default for OrphanSettings {
    fn default() -> Self {
        Self {
            grace_period_secs: 24 * 3600,
            sweep_interval_secs: 6 * 3600,
        }
    }
}

impl OrphanSettings {
    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.grace_period_secs)
    }

    /// `None` when the collector is off.
    pub fn sweep_interval(&self) -> Option<Duration> {
        (self.sweep_interval_secs > 0).then(|| Duration::from_secs(self.sweep_interval_secs))
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "custodian".into(),
        }
    }
}

impl DatabaseSettings {
    /// The statement time limits per class of query.
    pub fn statement_timeouts(&self) -> StatementTimeouts {
        let limit = |duration: Duration| (!duration.is_zero()).then_some(duration);
        StatementTimeouts {
            general: limit(Duration::from_secs(self.statement_timeout_secs)),
            lookups: limit(Duration::from_millis(self.lookup_statement_timeout_ms)),
        }
    }
}

impl ServerSettings {
    pub fn shutdown_grace_period(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_period_secs)
    }

    pub fn health_check_interval(&self) -> Duration {
        Duration::from_millis(self.health_check_interval_ms.max(100))
    }
}

impl From<LimitSettings> for FilingLimits {
    fn from(limits: LimitSettings) -> Self {
        Self {
            max_page_bytes: limits.max_page_bytes,
            max_document_bytes: limits.max_document_bytes,
            max_pages: limits.max_pages_per_document,
            idle_timeout: Duration::from_secs(limits.filing_idle_timeout_secs.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_lack_only_the_database_url_and_the_chain_key() {
        let mut settings = Settings::defaults();
        let missing = settings.check_required().unwrap_err().to_string();
        assert!(missing.contains("database.url"), "{missing}");
        settings.database.url = SecretString::from("postgres://u:p@h/d");
        let missing = settings.check_required().unwrap_err().to_string();
        assert!(missing.contains("auth.audit_chain_key"), "{missing}");
        settings.auth.audit_chain_key = SecretString::from("k");
        settings.check_required().unwrap();
        assert_eq!(
            settings.object_store.local.path,
            PathBuf::from("data/objects")
        );
        assert_eq!(settings.telemetry.service_name, "custodian");
        assert_eq!(
            settings.orphans.grace_period(),
            Duration::from_secs(24 * 3600)
        );
        assert!(settings.orphans.sweep_interval().is_some());
        assert_eq!(settings.fixity.pages_per_minute, 30);
    }

    #[test]
    fn an_identifier_key_is_optional_but_long_and_not_the_chain_key() {
        let mut auth = AuthSettings::default();
        auth.check_identifier_key().unwrap();
        auth.identifier_key = SecretString::from("y".repeat(8));
        assert!(auth.check_identifier_key().is_err(), "short");
        auth.audit_chain_key = SecretString::from("x".repeat(40));
        auth.identifier_key = SecretString::from("x".repeat(40));
        assert!(auth.check_identifier_key().is_err(), "the chain key");
        auth.identifier_key = SecretString::from("y".repeat(40));
        auth.check_identifier_key().unwrap();
    }

    #[test]
    fn a_short_audit_chain_key_is_refused() {
        let mut auth = AuthSettings::default();
        assert!(auth.check_audit_chain_key().is_err(), "empty");
        auth.audit_chain_key = SecretString::from("x".repeat(MIN_AUDIT_CHAIN_KEY_BYTES - 1));
        let refused = auth.check_audit_chain_key().unwrap_err().to_string();
        assert!(refused.contains("at least 32 bytes"), "{refused}");
        auth.audit_chain_key = SecretString::from("x".repeat(MIN_AUDIT_CHAIN_KEY_BYTES));
        auth.check_audit_chain_key().unwrap();
    }

    #[test]
    fn environment_values_keep_their_text_and_still_fill_numbers() {
        let environment = [
            ("CUSTODIAN_DATABASE__URL", "postgres://u:p@h/d"),
            ("CUSTODIAN_AUTH__AUDIT_CHAIN_KEY", "0123456789"),
            ("CUSTODIAN_LIMITS__MAX_PAGES_PER_DOCUMENT", "7"),
            ("CUSTODIAN_OBJECT_STORE__KIND", "s3"),
            ("CUSTODIAN_OBJECT_STORE__S3__BUCKET", "b"),
            ("CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID", "007"),
            ("CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY", "s"),
            ("CUSTODIAN_OBJECT_STORE__S3__ALLOW_HTTP", "true"),
            ("CUSTODIAN_OBJECT_STORE__READ_IDLE_TIMEOUT_SECS", "5"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let settings = Settings::load_from(None, Some(environment)).unwrap();
        assert_eq!(settings.auth.audit_chain_key.expose_secret(), "0123456789");
        assert_eq!(settings.limits.max_pages_per_document, 7);
        assert_eq!(settings.server.listen_addr.port(), 50051);
        assert_eq!(settings.object_store.read_idle_timeout_secs, 5);
        assert_eq!(settings.object_store.request_timeout_secs, 30);
        let s3 = settings.object_store.s3.unwrap();
        assert_eq!(s3.access_key_id, "007");
        assert!(s3.allow_http);
    }
}
