//! The server of one test: the real server on port 0, with its own PostgreSQL database and its
//! own key prefix in the real S3 store, and the generated clients that talk to it.
//!
//! The backends come from the environment that `scripts/with-services.sh` sets up (`make
//! test`): `CUSTODIAN_DATABASE__URL` and `CUSTODIAN_OBJECT_STORE__S3__*`.

use std::sync::Arc;

use chrono::Utc;
use custodian::domain::ManualClock;
use custodian::links::{PageLinkMode, PageLinkSettings};
use custodian::proto::v1::audit_service_client::AuditServiceClient;
use custodian::proto::v1::completeness_service_client::CompletenessServiceClient;
use custodian::proto::v1::customer_service_client::CustomerServiceClient;
use custodian::proto::v1::disposal_service_client::DisposalServiceClient;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::document_type_service_client::DocumentTypeServiceClient;
use custodian::proto::v1::export_service_client::ExportServiceClient;
use custodian::proto::v1::lending_service_client::LendingServiceClient;
use custodian::proto::v1::page_service_client::PageServiceClient;
use custodian::proto::v1::paper_service_client::PaperServiceClient;
use custodian::proto::v1::retention_service_client::RetentionServiceClient;
use custodian::proto::v1::scan_quality_service_client::ScanQualityServiceClient;
use custodian::proto::v1::search_service_client::SearchServiceClient;
use custodian::proto::v1::statistics_service_client::StatisticsServiceClient;
use custodian::settings::{
    AuthSettings, DatabaseSettings, LimitSettings, LogFormat, LogSettings, Settings, TlsSettings,
};
use custodian::startup::App;
use custodian::storage::{
    Database, ObjectStoreKind, ObjectStoreSettings, PayloadSigning, S3Settings, open_object_store,
};
use futures::StreamExt;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};

use super::pages::{fixture, repository_file};
use super::tokens::{AUDIENCE, Authorized, Bearer, ISSUER, Token};

/// Typed clients that all call as one caller.
#[derive(Clone)]
pub struct Clients {
    pub customers: CustomerServiceClient<Authorized>,
    pub documents: DocumentServiceClient<Authorized>,
    pub pages: PageServiceClient<Authorized>,
    pub document_types: DocumentTypeServiceClient<Authorized>,
    pub audit: AuditServiceClient<Authorized>,
    pub retention: RetentionServiceClient<Authorized>,
    pub disposal: DisposalServiceClient<Authorized>,
    pub completeness: CompletenessServiceClient<Authorized>,
    pub export: ExportServiceClient<Authorized>,
    pub lending: LendingServiceClient<Authorized>,
    pub paper: PaperServiceClient<Authorized>,
    pub search: SearchServiceClient<Authorized>,
    pub statistics: StatisticsServiceClient<Authorized>,
    pub scan_quality: ScanQualityServiceClient<Authorized>,
}

impl Clients {
    pub fn new(channel: &Channel, token: Option<&str>) -> Self {
        let authorized = InterceptedService::new(channel.clone(), Bearer::new(token));
        Self {
            customers: CustomerServiceClient::new(authorized.clone()),
            documents: DocumentServiceClient::new(authorized.clone()),
            pages: PageServiceClient::new(authorized.clone()),
            document_types: DocumentTypeServiceClient::new(authorized.clone()),
            audit: AuditServiceClient::new(authorized.clone()),
            retention: RetentionServiceClient::new(authorized.clone()),
            disposal: DisposalServiceClient::new(authorized.clone()),
            completeness: CompletenessServiceClient::new(authorized.clone()),
            export: ExportServiceClient::new(authorized.clone()),
            lending: LendingServiceClient::new(authorized.clone()),
            paper: PaperServiceClient::new(authorized.clone()),
            search: SearchServiceClient::new(authorized.clone()),
            statistics: StatisticsServiceClient::new(authorized.clone()),
            scan_quality: ScanQualityServiceClient::new(authorized),
        }
    }
}

/// The real server of one test and clients connected to it, calling as a province custodian
/// of province 12 (every permission, org scope `12`).
pub struct TestApp {
    pub address: std::net::SocketAddr,
    /// The plaintext probe listener's address, when `health_listen_addr` was set.
    pub health_address: Option<std::net::SocketAddr>,
    /// The page link listener's address, when `page_links.mode` is `served` (the default here).
    pub page_links_address: Option<std::net::SocketAddr>,
    pub customers: CustomerServiceClient<Authorized>,
    pub documents: DocumentServiceClient<Authorized>,
    pub pages: PageServiceClient<Authorized>,
    pub document_types: DocumentTypeServiceClient<Authorized>,
    pub audit: AuditServiceClient<Authorized>,
    pub completeness: CompletenessServiceClient<Authorized>,
    pub search: SearchServiceClient<Authorized>,
    pub channel: Channel,
    /// The test's own database, for tests that inspect or tamper with rows.
    pub database_url: SecretString,
    /// The test's view of the page objects (below its own prefix).
    pub objects: Arc<dyn ObjectStore>,
    /// That prefix, for a second server that shares the objects.
    pub object_prefix: String,
    /// The server's clock for date rules: it stands still until the test moves it.
    pub clock: Arc<ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// How a test wants its server: real backends by default, or broken ones.
pub struct TestConfig {
    pub limits: LimitSettings,
    pub database_reachable: bool,
    pub object_store_reachable: bool,
    pub shutdown_grace_period_secs: u64,
    /// `server.max_concurrent_requests`.
    pub max_concurrent_requests: usize,
    /// `server.max_requests_per_caller`.
    pub max_requests_per_caller: usize,
    /// `server.max_connections`.
    pub max_connections: usize,
    /// `server.max_heavy_requests`.
    pub max_heavy_requests: usize,
    /// `database.statement_timeout_secs`.
    pub statement_timeout_secs: u64,
    /// `server.unary_timeout_secs`.
    pub unary_timeout_secs: u64,
    /// `server.reply_stall_timeout_secs`.
    pub reply_stall_timeout_secs: u64,
    /// `server.max_message_bytes`.
    pub max_message_bytes: usize,
    /// Another test server's database, to run several replicas on one database.
    pub shared_database: Option<SecretString>,
    /// Another test server's key prefix in the bucket, to share its page objects.
    pub shared_object_prefix: Option<String>,
    /// `object_store.s3.payload_signing`.
    pub payload_signing: PayloadSigning,
    /// `server.tls`; with a certificate, `TestApp::channel` is plaintext and refused: build a
    /// channel with `TestApp::tls_channel`.
    pub tls: TlsSettings,
    /// `server.health_listen_addr`.
    pub health_listen_addr: Option<std::net::SocketAddr>,
    /// `page_links`: served by the test server on a port of its own unless a test says.
    pub page_links: PageLinkSettings,
    /// `renditions.workers`.
    pub rendition_workers: usize,
    /// `renditions.max_page_bytes`.
    pub rendition_max_page_bytes: u64,
    /// `auth.identifier_key`; `None` leaves it unset.
    pub identifier_key: Option<String>,
}

/// The key test servers sign page links with.
const PAGE_LINK_KEY: &str = "test-page-link-key-0123456789abcdef";

impl Default for TestConfig {
    fn default() -> Self {
        let defaults = Settings::defaults();
        Self {
            // Smaller documents than in production keep the limit tests quick.
            limits: LimitSettings {
                max_document_bytes: 256 * 1024 * 1024,
                max_pages_per_document: 200,
                ..defaults.limits
            },
            database_reachable: true,
            object_store_reachable: true,
            shutdown_grace_period_secs: 10,
            max_concurrent_requests: defaults.server.max_concurrent_requests,
            max_requests_per_caller: defaults.server.max_requests_per_caller,
            max_connections: defaults.server.max_connections,
            max_heavy_requests: defaults.server.max_heavy_requests,
            statement_timeout_secs: defaults.database.statement_timeout_secs,
            unary_timeout_secs: defaults.server.unary_timeout_secs,
            reply_stall_timeout_secs: defaults.server.reply_stall_timeout_secs,
            max_message_bytes: defaults.server.max_message_bytes,
            shared_database: None,
            shared_object_prefix: None,
            payload_signing: PayloadSigning::Auto,
            tls: defaults.server.tls,
            health_listen_addr: None,
            page_links: PageLinkSettings {
                mode: PageLinkMode::Served,
                listen_addr: "127.0.0.1:0".parse().expect("a valid address"),
                signing_key: SecretString::from(PAGE_LINK_KEY),
                ..PageLinkSettings::default()
            },
            rendition_workers: defaults.renditions.workers,
            rendition_max_page_bytes: defaults.renditions.max_page_bytes,
            identifier_key: Some(IDENTIFIER_KEY.into()),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    init_logs();
    let object_prefix = config
        .shared_object_prefix
        .unwrap_or_else(|| format!("tests/{}", uuid::Uuid::new_v4()));
    let database_url = if let Some(shared) = config.shared_database {
        shared
    } else if config.database_reachable {
        fresh_database().await
    } else {
        // Nothing listens on port 1.
        SecretString::from("postgres://custodian:x@127.0.0.1:1/custodian")
    };
    let mut s3 = s3_settings();
    s3.payload_signing = config.payload_signing;
    if !config.object_store_reachable {
        s3.endpoint = "http://127.0.0.1:1".into();
    }
    // The server's own defaults, with what a test server needs instead.
    let mut settings = Settings::defaults();
    settings.server.listen_addr = "127.0.0.1:0".parse().expect("a valid address");
    settings.server.shutdown_grace_period_secs = config.shutdown_grace_period_secs;
    settings.server.health_check_interval_ms = 200;
    settings.server.max_concurrent_requests = config.max_concurrent_requests;
    settings.server.max_requests_per_caller = config.max_requests_per_caller;
    settings.server.max_connections = config.max_connections;
    settings.server.max_heavy_requests = config.max_heavy_requests;
    settings.server.unary_timeout_secs = config.unary_timeout_secs;
    settings.server.reply_stall_timeout_secs = config.reply_stall_timeout_secs;
    settings.server.max_message_bytes = config.max_message_bytes;
    let tls = config.tls.enabled();
    settings.server.tls = config.tls;
    settings.server.health_listen_addr = config.health_listen_addr;
    settings.page_links = config.page_links;
    settings.database = DatabaseSettings {
        url: database_url,
        max_connections: 5,
        acquire_timeout_secs: 2,
        statement_timeout_secs: config.statement_timeout_secs,
        ..DatabaseSettings::default()
    };
    settings.object_store = ObjectStoreSettings {
        kind: ObjectStoreKind::S3,
        prefix: object_prefix.clone(),
        s3: Some(s3),
        ..ObjectStoreSettings::default()
    };
    settings.limits = config.limits;
    settings.renditions.workers = config.rendition_workers;
    settings.renditions.max_page_bytes = config.rendition_max_page_bytes;
    // Workers look for jobs often, so a test waits for its renditions no longer than it must.
    settings.renditions.poll_interval_ms = 100;
    settings.log.filter = "warn".into();
    settings.auth = AuthSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_secs: 5,
        public_key_file: Some(fixture("issuer-ed25519.pub.pem")),
        keys: vec![custodian::settings::VerificationKey {
            public_key_file: fixture("issuer-rsa.pub.pem"),
            algorithm: "RS256".into(),
        }],
        policy_file: repository_file("config/policy.toml"),
        audit_chain_key: SecretString::from(AUDIT_CHAIN_KEY),
        identifier_key: SecretString::from(config.identifier_key.unwrap_or_default()),
        ..AuthSettings::default()
    };
    let objects = open_object_store(&settings.object_store).expect("object store settings");
    let settings_database_url = settings.database.url.clone();
    let clock = Arc::new(ManualClock::starting_at(Utc::now()));
    let app = App::build_with_clock(settings, clock.clone())
        .await
        .expect("the server builds");
    let address = app.local_addr();
    let health_address = app.health_addr();
    let page_links_address = app.page_links_addr();
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = signal.await;
    }));
    let endpoint = Channel::from_shared(format!("http://{address}")).expect("a valid uri");
    let channel = if tls {
        endpoint.connect_lazy()
    } else {
        endpoint
            .connect()
            .await
            .expect("the server accepts connections")
    };
    let clients = Clients::new(&channel, Some(&Token::custodian().mint()));
    TestApp {
        address,
        health_address,
        page_links_address,
        customers: clients.customers,
        documents: clients.documents,
        pages: clients.pages,
        document_types: clients.document_types,
        audit: clients.audit,
        completeness: clients.completeness,
        search: clients.search,
        channel,
        database_url: settings_database_url,
        objects,
        object_prefix,
        clock,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// A pool on the test's database, as the server's own (without statement limits).
    pub fn database(&self) -> Database {
        Database::connect_lazy(
            &self.database_url,
            4,
            std::time::Duration::from_secs(5),
            custodian::domain::ChainKey::new(AUDIT_CHAIN_KEY),
        )
        .expect("a pool for the test database")
    }

    /// An archive on the test's database and objects, as the server's background jobs use it
    /// (the scrub, the orphan collector), to run them from a test.
    pub fn archive(&self) -> custodian::domain::Archive {
        archive_on(&self.database_url, Arc::clone(&self.objects))
    }

    /// A channel to this server over TLS, as `config` says (CA, server name, client identity).
    /// It dials 127.0.0.1: `config` names the server (`localhost` in the test certificates).
    pub async fn tls_channel(
        &self,
        config: ClientTlsConfig,
    ) -> Result<Channel, tonic::transport::Error> {
        let port = self.address.port();
        Channel::from_shared(format!("https://127.0.0.1:{port}"))
            .expect("a valid uri")
            .tls_config(config)?
            .connect()
            .await
    }

    /// Clients that call with `token` (or with no token at all).
    pub fn clients(&self, token: Option<&str>) -> Clients {
        Clients::new(&self.channel, token)
    }

    /// Clients that call as `token` describes.
    pub fn clients_as(&self, token: &Token) -> Clients {
        self.clients(Some(&token.mint()))
    }

    /// Sends the shutdown signal without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits for the server task to end.
    pub async fn wait_stopped(&mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(server) => server.await.expect("the server task does not panic"),
            None => Ok(()),
        }
    }

    /// The keys of the objects below `prefix` in the test's part of the store.
    pub async fn object_keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .list(Some(&Path::from(prefix)))
            .map(|meta| meta.expect("listing objects succeeds").location.to_string())
            .collect()
            .await;
        keys.sort();
        keys
    }

    /// How many multipart uploads below the test's prefix are begun and neither completed nor
    /// aborted. Object listings leave them out, so this asks S3 (ListMultipartUploads).
    pub async fn uploads_under_way(&self) -> usize {
        let s3 = s3_settings();
        let credential = AwsCredential {
            key_id: s3.access_key_id,
            secret_key: s3.secret_access_key.expose_secret().to_owned(),
            token: None,
        };
        // A prefix is `tests/{uuid}` (or another test's): `/` is all that needs escaping.
        let url = format!(
            "{}/{}?prefix={}%2F&uploads=",
            s3.endpoint.trim_end_matches('/'),
            s3.bucket,
            self.object_prefix.replace('/', "%2F")
        );
        let mut request = http::Request::get(url)
            .body(HttpRequestBody::empty())
            .expect("a valid request");
        AwsAuthorizer::new(&credential, "s3", &s3.region)
            .try_authorize(&mut request, None)
            .expect("the request is signed");
        let client = ReqwestConnector::default()
            .connect(&ClientOptions::new().with_allow_http(true))
            .expect("an HTTP client");
        let response = client.execute(request).await.expect("S3 answers");
        let status = response.status();
        let body = response
            .into_body()
            .bytes()
            .await
            .expect("S3's reply arrives");
        let body = String::from_utf8_lossy(&body);
        assert!(status.is_success(), "ListMultipartUploads: {status} {body}");
        body.matches("<UploadId>").count()
    }
}

/// An archive on a database and page objects, as a server's background jobs use it, for a test
/// to run them itself (the orphan collector, the scrub).
pub fn archive_on(
    database_url: &SecretString,
    objects: Arc<dyn ObjectStore>,
) -> custodian::domain::Archive {
    let database = Database::connect_lazy(
        database_url,
        4,
        std::time::Duration::from_secs(5),
        custodian::domain::ChainKey::new(AUDIT_CHAIN_KEY),
    )
    .expect("a pool for the test database");
    let (audit, _writer) = custodian::storage::AuditLog::start(database.clone());
    let policy = custodian::startup::load_policy(&repository_file("config/policy.toml"))
        .expect("the policy loads");
    custodian::domain::Archive::new(
        database,
        custodian::storage::PageStore::new(Arc::clone(&objects)),
        LimitSettings::default().into(),
        policy,
        audit,
        custodian::storage::AuditCheckpoints::new(objects),
        Arc::new(ManualClock::starting_at(Utc::now())),
    )
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_stop();
    }
}

/// The S3 settings of the test environment.
pub fn s3_settings() -> S3Settings {
    S3Settings {
        endpoint: env("CUSTODIAN_OBJECT_STORE__S3__ENDPOINT"),
        bucket: env("CUSTODIAN_OBJECT_STORE__S3__BUCKET"),
        region: std::env::var("CUSTODIAN_OBJECT_STORE__S3__REGION")
            .unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: env("CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID"),
        secret_access_key: env("CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY").into(),
        allow_http: true,
        payload_signing: PayloadSigning::Auto,
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test`, which starts PostgreSQL and SeaweedFS")
    })
}

/// Test databases older than this are dropped by the next test run.
const TEST_DATABASE_LIFETIME_SECS: u64 = 3600;

/// Creates and migrates a database of its own; its name carries its creation time.
pub async fn fresh_database() -> SecretString {
    let admin_url = env("CUSTODIAN_DATABASE__URL");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs();
    let name = format!("test_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("the test PostgreSQL answers");
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| drop_old_test_databases(&admin_url, now))
        .await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a test database is created");
    admin.close().await.ok();
    let (server, _) = admin_url
        .rsplit_once('/')
        .expect("the database URL ends in /database");
    let url = SecretString::from(format!("{server}/{name}"));
    let database = Database::connect_lazy(
        &url,
        1,
        std::time::Duration::from_secs(5),
        custodian::domain::ChainKey::new(AUDIT_CHAIN_KEY),
    )
    .expect("a pool for the test database");
    database.migrate().await.expect("migrations apply");
    database.close().await;
    url
}

/// Drops the databases of test runs over an hour old (and of the unnamed-time scheme before
/// it), so they do not pile up on a developer's disk. Only idle ones: a database some other
/// run still uses is left alone.
async fn drop_old_test_databases(admin_url: &str, now: u64) {
    let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .split('_')
            .nth(1)
            .and_then(|secs| secs.parse::<u64>().ok())
            .filter(|secs| *secs > 1_000_000_000);
        if created.is_some_and(|secs| now.saturating_sub(secs) < TEST_DATABASE_LIFETIME_SECS) {
            continue;
        }
        // Without FORCE: refused, harmlessly, while connected to.
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .execute(&mut admin)
            .await;
    }
}

fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        custodian::telemetry::init_logs(&LogSettings {
            format: LogFormat::Pretty,
            filter: "info".into(),
        });
    }
}

pub const AUDIT_CHAIN_KEY: &str = "test-audit-chain-key-of-32-bytes-or-more";

/// The test servers' `auth.identifier_key` (the blind index of ID numbers and phones).
pub const IDENTIFIER_KEY: &str = "test-identifier-key-of-32-bytes-or-more";
