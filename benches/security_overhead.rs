//! What security costs: document metadata reads (GetDocument) through the secured server
//! (token verification, policy check, audit event) against the same server assembled without
//! them, in one run, on one PostgreSQL and one SeaweedFS. The health check (a no-op on the same
//! tonic stack) is printed for reference.
//!
//! Run with `make bench` (starts the services). Prints medians of several rounds; asserts
//! nothing, since these machines are noisy.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Round, channels, median, spread};

use custodian::domain::ChainKey;
use custodian::proto::v1 as pb;
use custodian::proto::v1::document_service_client::DocumentServiceClient;
use custodian::proto::v1::file_document_request::Part;
use custodian::settings::Settings;
use custodian::startup::App;
use custodian::storage::{Database, ObjectStoreKind, ObjectStoreSettings, S3Settings};
use secrecy::SecretString;
use sqlx::Connection;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const CONCURRENCY: usize = 16;
const CONNECTIONS: usize = 4;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 5;
const DOCUMENTS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if common::run_by_cargo_test() {
        return Ok(());
    }
    let settings = settings().await?;
    let secured = App::build(settings.clone()).await?;
    let open = App::build_unsecured_for_benchmarks(settings).await?;
    let (secured_addr, open_addr) = (secured.local_addr(), open.local_addr());
    tokio::spawn(secured.run(std::future::pending()));
    tokio::spawn(open.run(std::future::pending()));

    let token = mint_token()?;
    let secured_channels = channels(secured_addr, CONNECTIONS).await?;
    let open_channels = channels(open_addr, CONNECTIONS).await?;
    let documents = seed(&secured_channels[0], &token).await?;

    let workloads: Vec<(&str, Workload)> = vec![
        (
            "health check (no-op)",
            Workload::Health(secured_channels.clone()),
        ),
        (
            "GetDocument, secured",
            Workload::Get(secured_channels, Some(token), documents.clone()),
        ),
        (
            "GetDocument, unsecured",
            Workload::Get(open_channels, None, documents),
        ),
    ];
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); workloads.len()];
    for round in 0..ROUNDS {
        // Alternate, so drift in the machine's load hits every workload alike.
        for (i, (_, workload)) in workloads.iter().enumerate() {
            results[i].push(run(workload).await?);
        }
        eprintln!("round {}/{ROUNDS} done", round + 1);
    }

    println!(
        "\nconcurrency {CONCURRENCY} over {CONNECTIONS} HTTP/2 connections, {ROUNDS} rounds of {ROUND:?}; medians (min–max)\n"
    );
    println!("| workload | req/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- |");
    let mut medians = Vec::new();
    for ((name, _), rounds) in workloads.iter().zip(&results) {
        let rps: Vec<f64> = rounds.iter().map(Round::per_second).collect();
        let p50: Vec<f64> = rounds.iter().map(|r| r.p50_ms).collect();
        let p99: Vec<f64> = rounds.iter().map(|r| r.p99_ms).collect();
        println!(
            "| {name} | {} | {} | {} |",
            spread(&rps, 0),
            spread(&p50, 2),
            spread(&p99, 2)
        );
        medians.push(median(&rps));
    }
    let cost = 1.0 - medians[1] / medians[2];
    println!(
        "\nsecurity costs {:.1} % of GetDocument throughput (target: at most 20 %)",
        cost * 100.0
    );
    Ok(())
}

#[derive(Clone)]
enum Workload {
    Health(Vec<Channel>),
    Get(Vec<Channel>, Option<String>, Vec<String>),
}

/// Runs `CONCURRENCY` closed-loop callers for one round.
async fn run(workload: &Workload) -> anyhow::Result<Round> {
    let workload = workload.clone();
    let round = common::closed_loop(CONCURRENCY, ROUND, move |caller, n| {
        let workload = workload.clone();
        async move {
            match &workload {
                Workload::Health(channels) => {
                    HealthClient::new(channels[caller % CONNECTIONS].clone())
                        .check(HealthCheckRequest::default())
                        .await?;
                }
                Workload::Get(channels, token, documents) => {
                    let mut request = tonic::Request::new(pb::GetDocumentRequest {
                        name: documents[n as usize % documents.len()].clone(),
                        ..Default::default()
                    });
                    if let Some(token) = token {
                        request.metadata_mut().insert(
                            "authorization",
                            MetadataValue::try_from(format!("Bearer {token}"))?,
                        );
                    }
                    DocumentServiceClient::new(channels[caller % CONNECTIONS].clone())
                        .get_document(request)
                        .await?;
                }
            }
            Ok(0)
        }
    })
    .await;
    match round.first_error {
        Some(error) => Err(anyhow::anyhow!("{} calls failed: {error}", round.errors)),
        None => Ok(round),
    }
}

/// Opens one account and files `DOCUMENTS` two-page documents through the secured server.
async fn seed(channel: &Channel, token: &str) -> anyhow::Result<Vec<String>> {
    let bearer = MetadataValue::try_from(format!("Bearer {token}"))?;
    let with_token = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    };
    let mut customers =
        custodian::proto::v1::customer_service_client::CustomerServiceClient::with_interceptor(
            channel.clone(),
            with_token.clone(),
        );
    customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                account_number: "1200000001".into(),
                display_name: "Bench".into(),
                customer_class: pb::CustomerClass::Residential.into(),
                org_unit_code: "120101".into(),
                ..Default::default()
            }),
        })
        .await?;
    let mut documents = DocumentServiceClient::with_interceptor(channel.clone(), with_token);
    let mut names = Vec::new();
    for i in 0..DOCUMENTS {
        let part = |part| pb::FileDocumentRequest { part: Some(part) };
        let mut page = b"\xFF\xD8\xFF\xE0".to_vec();
        page.extend_from_slice(format!("page of document {i}").as_bytes());
        let messages = vec![
            part(Part::Header(pb::FilingHeader {
                parent: "customers/1200000001".into(),
                document_type: "application-form".into(),
                business_process: pb::BusinessProcess::NewConnection.into(),
                title: format!("document {i}"),
                client_request_id: format!("bench-{i}"),
                ..Default::default()
            })),
            part(Part::PageStart(pb::PageStart::default())),
            part(Part::Chunk(page.clone().into())),
            part(Part::PageStart(pb::PageStart::default())),
            part(Part::Chunk(page.into())),
        ];
        let document = documents
            .file_document(futures::stream::iter(messages))
            .await?;
        names.push(document.into_inner().name);
    }
    Ok(names)
}

fn fixture(name: &str) -> PathBuf {
    repository_file("tests/fixtures").join(name)
}

/// Found at run time: the binary may come from another clone sharing the target directory.
fn repository_file(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join(relative)
}

fn mint_token() -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "iss": "custodian-bench", "aud": "custodian", "sub": "bench-custodian",
        "client_id": "archive-desk", "role": "province-custodian", "org_unit": "12",
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    let key =
        jsonwebtoken::EncodingKey::from_ed_pem(&std::fs::read(fixture("issuer-ed25519.pem"))?)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &key,
    )?)
}

/// Settings for both servers: a fresh database and a fresh key prefix.
async fn settings() -> anyhow::Result<Settings> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| anyhow::anyhow!("{name} is not set: run `make bench`"))
    };
    let admin_url = env("CUSTODIAN_DATABASE__URL")?;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let (server, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
    let url = SecretString::from(format!("{server}/{name}"));
    let chain_key = "bench-audit-chain-key-of-at-least-32-bytes";
    let database =
        Database::connect_lazy(&url, 1, Duration::from_secs(5), ChainKey::new(chain_key))?;
    database.migrate().await?;
    database.close().await;
    let mut settings = Settings::defaults();
    settings.server.listen_addr = "127.0.0.1:0".parse()?;
    settings.server.shutdown_grace_period_secs = 5;
    settings.server.health_check_interval_ms = 1000;
    settings.database.url = url;
    settings.object_store = ObjectStoreSettings {
        kind: ObjectStoreKind::S3,
        prefix: format!("bench/{}", uuid::Uuid::new_v4()),
        s3: Some(S3Settings {
            endpoint: env("CUSTODIAN_OBJECT_STORE__S3__ENDPOINT")?,
            bucket: env("CUSTODIAN_OBJECT_STORE__S3__BUCKET")?,
            region: "us-east-1".into(),
            access_key_id: env("CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID")?,
            secret_access_key: env("CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY")?.into(),
            allow_http: true,
            payload_signing: Default::default(),
        }),
        ..ObjectStoreSettings::default()
    };
    settings.log.filter = "warn".into();
    settings.auth.issuer = "custodian-bench".into();
    settings.auth.public_key_file = Some(fixture("issuer-ed25519.pub.pem"));
    settings.auth.policy_file = repository_file("config/policy.toml");
    settings.auth.audit_chain_key = SecretString::from(chain_key);
    Ok(settings)
}
