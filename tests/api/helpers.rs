//! The test harness: each test gets the real server on port 0, its own PostgreSQL database and
//! its own key prefix in the real S3 store, and talks to it through the generated clients.
//!
//! The backends come from the environment that `scripts/with-services.sh` sets up (`make
//! test`): `CUSTODIAN_DATABASE__URL` and `CUSTODIAN_OBJECT_STORE__S3__*`.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use custodian::domain::ManualClock;
use custodian::proto::v1 as pb;
use custodian::proto::v1::audit_service_client::AuditServiceClient;
use custodian::proto::v1::completeness_service_client::CompletenessServiceClient;
use custodian::proto::v1::customer_service_client::CustomerServiceClient;
use custodian::proto::v1::disposal_service_client::DisposalServiceClient;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::document_type_service_client::DocumentTypeServiceClient;
use custodian::proto::v1::file_document_request::Part;
use custodian::proto::v1::page_service_client::PageServiceClient;
use custodian::proto::v1::retention_service_client::RetentionServiceClient;
use custodian::settings::{
    AuthSettings, DatabaseSettings, LimitSettings, LogFormat, LogSettings, ServerSettings, Settings,
};
use custodian::startup::App;
use custodian::storage::{
    Database, LocalSettings, ObjectStoreKind, ObjectStoreSettings, PayloadSigning, S3Settings,
    open_object_store,
};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use secrecy::SecretString;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use tonic::Code;

/// A channel whose calls carry one caller's bearer token.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

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
}

impl Clients {
    pub fn new(channel: &Channel, token: Option<&str>) -> Self {
        let bearer = Bearer(token.map(|token| {
            MetadataValue::try_from(format!("Bearer {token}")).expect("a token is ASCII")
        }));
        let authorized = InterceptedService::new(channel.clone(), bearer);
        Self {
            customers: CustomerServiceClient::new(authorized.clone()),
            documents: DocumentServiceClient::new(authorized.clone()),
            pages: PageServiceClient::new(authorized.clone()),
            document_types: DocumentTypeServiceClient::new(authorized.clone()),
            audit: AuditServiceClient::new(authorized.clone()),
            retention: RetentionServiceClient::new(authorized.clone()),
            disposal: DisposalServiceClient::new(authorized.clone()),
            completeness: CompletenessServiceClient::new(authorized),
        }
    }
}

/// The real server of one test and clients connected to it, calling as a province custodian
/// of province 12 (every permission, org scope `12`).
pub struct TestApp {
    pub address: std::net::SocketAddr,
    pub customers: CustomerServiceClient<Authorized>,
    pub documents: DocumentServiceClient<Authorized>,
    pub pages: PageServiceClient<Authorized>,
    pub document_types: DocumentTypeServiceClient<Authorized>,
    pub audit: AuditServiceClient<Authorized>,
    pub completeness: CompletenessServiceClient<Authorized>,
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
    /// `server.unary_timeout_secs`.
    pub unary_timeout_secs: u64,
    /// `server.max_message_bytes`.
    pub max_message_bytes: usize,
    /// Another test server's database, to run several replicas on one database.
    pub shared_database: Option<SecretString>,
    /// Another test server's key prefix in the bucket, to share its page objects.
    pub shared_object_prefix: Option<String>,
    /// `object_store.s3.payload_signing`.
    pub payload_signing: PayloadSigning,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            limits: LimitSettings {
                max_page_bytes: 64 * 1024 * 1024,
                max_document_bytes: 256 * 1024 * 1024,
                max_pages_per_document: 200,
                filing_idle_timeout_secs: 60,
            },
            database_reachable: true,
            object_store_reachable: true,
            shutdown_grace_period_secs: 10,
            max_concurrent_requests: 256,
            unary_timeout_secs: 30,
            max_message_bytes: 4 * 1024 * 1024 + 1024,
            shared_database: None,
            shared_object_prefix: None,
            payload_signing: PayloadSigning::Auto,
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
    let settings = Settings {
        server: ServerSettings {
            listen_addr: "127.0.0.1:0".parse().expect("a valid address"),
            shutdown_grace_period_secs: config.shutdown_grace_period_secs,
            health_check_interval_ms: 200,
            max_concurrent_requests: config.max_concurrent_requests,
            unary_timeout_secs: config.unary_timeout_secs,
            max_message_bytes: config.max_message_bytes,
            max_concurrent_streams_per_connection: 128,
            http2_keepalive_interval_secs: 30,
            http2_keepalive_timeout_secs: 10,
        },
        database: DatabaseSettings {
            url: database_url,
            max_connections: 5,
            acquire_timeout_secs: 2,
        },
        object_store: ObjectStoreSettings {
            kind: ObjectStoreKind::S3,
            prefix: object_prefix.clone(),
            local: LocalSettings {
                path: PathBuf::from("unused"),
            },
            s3: Some(s3),
            ..ObjectStoreSettings::default()
        },
        limits: config.limits,
        log: LogSettings {
            format: LogFormat::Pretty,
            filter: "warn".into(),
        },
        telemetry: Default::default(),
        orphans: Default::default(),
        fixity: Default::default(),
        auth: AuthSettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_secs: 5,
            public_key_file: Some(fixture("issuer-ed25519.pub.pem")),
            algorithm: "EdDSA".into(),
            keys: vec![custodian::settings::VerificationKey {
                public_key_file: fixture("issuer-rsa.pub.pem"),
                algorithm: "RS256".into(),
            }],
            policy_file: repository_file("config/policy.toml"),
            audit_chain_key: SecretString::from(AUDIT_CHAIN_KEY),
        },
    };
    let objects = open_object_store(&settings.object_store).expect("object store settings");
    let settings_database_url = settings.database.url.clone();
    let clock = Arc::new(ManualClock::starting_at(Utc::now()));
    let app = App::build_with_clock(settings, clock.clone())
        .await
        .expect("the server builds");
    let address = app.local_addr();
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = signal.await;
    }));
    let channel = Channel::from_shared(format!("http://{address}"))
        .expect("a valid uri")
        .connect()
        .await
        .expect("the server accepts connections");
    let clients = Clients::new(&channel, Some(&Token::custodian().mint()));
    TestApp {
        address,
        customers: clients.customers,
        documents: clients.documents,
        pages: clients.pages,
        document_types: clients.document_types,
        audit: clients.audit,
        completeness: clients.completeness,
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

    /// Opens a residential customer in county 120101 and returns its account number.
    pub async fn create_customer(&mut self, account: &str) -> pb::Customer {
        self.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, "120101")),
            })
            .await
            .expect("the customer is created")
            .into_inner()
    }

    /// Files a document and returns the reply or the status.
    pub async fn file(
        &mut self,
        messages: Vec<pb::FileDocumentRequest>,
    ) -> Result<pb::Document, tonic::Status> {
        self.documents
            .file_document(futures::stream::iter(messages))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Reads a whole page back: its metadata and its bytes.
    pub async fn read_page(&mut self, name: &str) -> Result<(pb::Page, Vec<u8>), tonic::Status> {
        let mut stream = self
            .pages
            .read_page(pb::ReadPageRequest {
                name: name.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut page = None;
        let mut bytes = Vec::new();
        while let Some(message) = stream.next().await {
            let message = message?;
            if message.page.is_some() {
                assert!(page.is_none(), "only the first message carries the page");
                page = message.page;
            }
            bytes.extend_from_slice(&message.chunk);
        }
        Ok((page.expect("the first message carries the page"), bytes))
    }

    /// Lists every document of an account, following page tokens.
    pub async fn list_all(&mut self, request: pb::ListDocumentsRequest) -> Vec<pb::Document> {
        let mut documents = Vec::new();
        let mut request = request;
        loop {
            let response = self
                .documents
                .list_documents(request.clone())
                .await
                .expect("listing succeeds")
                .into_inner();
            documents.extend(response.documents);
            if response.next_page_token.is_empty() {
                return documents;
            }
            request.page_token = response.next_page_token;
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_stop();
    }
}

pub fn customer(account: &str, org_unit: &str) -> pb::Customer {
    pb::Customer {
        account_number: account.into(),
        display_name: format!("Customer {account}"),
        customer_class: pb::CustomerClass::Residential.into(),
        org_unit_code: org_unit.into(),
        ..Default::default()
    }
}

/// A filing header with sensible defaults for `account`.
pub fn header(account: &str, request_id: &str) -> pb::FilingHeader {
    pb::FilingHeader {
        parent: format!("customers/{account}"),
        document_type: "application-form".into(),
        business_process: pb::BusinessProcess::NewConnection.into(),
        work_order_number: "WO-1".into(),
        title: "居民新装用电申请书".into(),
        // Empty: the calling system named by the token.
        source_system: String::new(),
        client_request_id: request_id.into(),
    }
}

/// The messages of a filing: the header, then each page in chunks of `chunk_size`.
pub fn filing(
    header: pb::FilingHeader,
    pages: &[Vec<u8>],
    chunk_size: usize,
) -> Vec<pb::FileDocumentRequest> {
    let mut messages = vec![message(Part::Header(header))];
    for page in pages {
        messages.push(message(Part::PageStart(pb::PageStart::default())));
        for chunk in page.chunks(chunk_size) {
            messages.push(message(Part::Chunk(Bytes::copy_from_slice(chunk))));
        }
    }
    messages
}

/// Starts a filing that stays open: the header and a `page_start` are sent, and the test sends
/// (or withholds) the page's chunks through the returned sender, then awaits the call.
pub async fn open_filing(
    mut client: DocumentServiceClient<Authorized>,
    account: &str,
    request_id: &str,
) -> (
    tokio::sync::mpsc::Sender<pb::FileDocumentRequest>,
    JoinHandle<Result<tonic::Response<pb::Document>, tonic::Status>>,
) {
    // Room for one message: each send returns once the client has taken the one before.
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let call = tokio::spawn(async move {
        client
            .file_document(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(message(Part::Header(header(account, request_id))))
        .await
        .expect("the call takes the header");
    sender
        .send(message(Part::PageStart(pb::PageStart::default())))
        .await
        .expect("the call takes the page start");
    (sender, call)
}

pub fn message(part: Part) -> pb::FileDocumentRequest {
    pb::FileDocumentRequest { part: Some(part) }
}

/// A JPEG-looking page of `size` bytes whose content depends on `seed`.
pub fn jpeg_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"\xFF\xD8\xFF\xE0", size, seed)
}

pub fn png_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"\x89PNG\r\n\x1A\n", size, seed)
}

pub fn pdf_page(size: usize, seed: u64) -> Vec<u8> {
    page_with_magic(b"%PDF-1.7\n", size, seed)
}

fn page_with_magic(magic: &[u8], size: usize, seed: u64) -> Vec<u8> {
    assert!(size >= magic.len());
    let mut bytes = magic.to_vec();
    // xorshift64: cheap, deterministic noise that does not compress or repeat.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The S3 settings of the test environment.
fn s3_settings() -> S3Settings {
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

/// Creates an empty, migrated database for one test and returns its URL.
/// Test databases older than this are dropped by the next test run.
const TEST_DATABASE_LIFETIME_SECS: u64 = 3600;

/// Creates and migrates a database of its own; its name carries its creation time.
async fn fresh_database() -> SecretString {
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

pub const ISSUER: &str = "https://idp.test.custodian";
pub const AUDIENCE: &str = "custodian";
pub const AUDIT_CHAIN_KEY: &str = "test-audit-chain-key";

pub fn fixture(name: &str) -> PathBuf {
    repository_file("tests/fixtures").join(name)
}

/// A file of this repository, found at run time: a test binary may have been
/// built in another clone sharing the target directory, so the compile-time
/// `env!("CARGO_MANIFEST_DIR")` can name a checkout that no longer exists.
pub fn repository_file(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join(relative)
}

/// The claims of a test token and how it is signed.
#[derive(Debug, Clone)]
pub struct Token {
    pub system: Option<String>,
    pub person: Option<String>,
    pub role: Option<String>,
    pub org_unit: Option<String>,
    pub account: Option<String>,
    pub issuer: String,
    pub audience: String,
    /// Seconds from now.
    pub expires_in: i64,
    pub not_before_in: i64,
    pub algorithm: jsonwebtoken::Algorithm,
    pub key_file: String,
}

impl Token {
    /// A token of `system` acting in `role` for person `tester` within `org_unit`.
    pub fn new(system: &str, role: &str, org_unit: Option<&str>) -> Self {
        Self {
            system: Some(system.into()),
            person: Some("tester".into()),
            role: Some(role.into()),
            org_unit: org_unit.map(Into::into),
            account: None,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            expires_in: 600,
            not_before_in: -5,
            algorithm: jsonwebtoken::Algorithm::EdDSA,
            key_file: "issuer-ed25519.pem".into(),
        }
    }

    /// The default caller of the tests: a custodian of province 12.
    pub fn custodian() -> Self {
        Self::new("archive-desk", "province-custodian", Some("12"))
    }

    pub fn mint(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now + self.not_before_in,
            "exp": now + self.expires_in,
        });
        let fields = [
            ("sub", &self.person),
            ("client_id", &self.system),
            ("role", &self.role),
            ("org_unit", &self.org_unit),
            ("account_number", &self.account),
        ];
        for (claim, value) in fields {
            if let Some(value) = value {
                claims[claim] = serde_json::Value::String(value.clone());
            }
        }
        let pem = std::fs::read(fixture(&self.key_file)).expect("the fixture key exists");
        let key = match self.algorithm {
            jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(&pem),
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        }
        .expect("the fixture key parses");
        jsonwebtoken::encode(&jsonwebtoken::Header::new(self.algorithm), &claims, &key)
            .expect("the token signs")
    }
}
