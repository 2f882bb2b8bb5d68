//! A slow reader of a large page gets it whole: the object store client's whole-request
//! timeout no longer applies to page reads, which fail only when the store itself falls
//! silent.

use std::time::Duration;

use custodian::proto::v1 as pb;
use custodian::settings::Settings;
use custodian::startup::App;
use custodian::storage::{ObjectStoreKind, ObjectStoreSettings, PayloadSigning, S3Settings};
use futures::StreamExt as _;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::helpers::{
    AUDIENCE, AUDIT_CHAIN_KEY, Clients, ISSUER, TestApp, Token, filing, fixture, header, jpeg_page,
    repository_file, spawn_app,
};

const ACCOUNT: &str = "1201000001";
/// The store client's request timeout in these tests: short, to keep them fast.
const REQUEST_TIMEOUT_SECS: u64 = 1;

/// A server on `app`'s database and objects whose settings `tune` changes; it stops when the
/// returned sender is dropped.
pub async fn server_with(
    app: &TestApp,
    tune: impl FnOnce(&mut Settings),
) -> (Clients, oneshot::Sender<()>) {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let mut settings = Settings::defaults();
    settings.server.listen_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.shutdown_grace_period_secs = 2;
    settings.database.url = app.database_url.clone();
    settings.database.max_connections = 5;
    settings.object_store = ObjectStoreSettings {
        kind: ObjectStoreKind::S3,
        prefix: app.object_prefix.clone(),
        s3: Some(S3Settings {
            endpoint: env("CUSTODIAN_OBJECT_STORE__S3__ENDPOINT"),
            bucket: env("CUSTODIAN_OBJECT_STORE__S3__BUCKET"),
            region: "us-east-1".into(),
            access_key_id: env("CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID"),
            secret_access_key: env("CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY").into(),
            allow_http: true,
            payload_signing: PayloadSigning::Auto,
        }),
        ..ObjectStoreSettings::default()
    };
    tune(&mut settings);
    settings.log.filter = "warn".into();
    settings.auth.issuer = ISSUER.into();
    settings.auth.audience = AUDIENCE.into();
    settings.auth.public_key_file = Some(fixture("issuer-ed25519.pub.pem"));
    settings.auth.policy_file = repository_file("config/policy.toml");
    settings.auth.audit_chain_key = AUDIT_CHAIN_KEY.into();
    let app = App::build(settings).await.expect("the server builds");
    let address = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("the server accepts connections");
    (
        Clients::new(&channel, Some(&Token::custodian().mint())),
        stop,
    )
}

/// Reads a page, pausing `pause` after each of its first `pauses` chunks, as a reader on a slow
/// line would.
async fn read_slowly(
    clients: &mut Clients,
    name: &str,
    pauses: usize,
    pause: Duration,
) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = clients
        .pages
        .read_page(pb::ReadPageRequest {
            name: name.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    let mut paused = 0;
    while let Some(message) = stream.next().await {
        let chunk = message?.chunk;
        bytes.extend_from_slice(&chunk);
        if paused < pauses && !chunk.is_empty() {
            paused += 1;
            tokio::time::sleep(pause).await;
        }
    }
    Ok(bytes)
}

#[tokio::test]
async fn a_reader_pausing_longer_than_the_store_request_timeout_still_reads_the_whole_page() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    // Filed through the test's usual server; read through one whose store client has the
    // short timeout.
    // Larger than what the HTTP/2 window and the sockets buffer: the store's response is still
    // being read when the reader pauses.
    let page = jpeg_page(40 * 1024 * 1024, 5);
    let document = app
        .file(filing(
            header(ACCOUNT, "large"),
            std::slice::from_ref(&page),
            1024 * 1024,
        ))
        .await
        .expect("the page is filed");
    let (mut clients, _stop) = server_with(&app, |settings| {
        settings.object_store.request_timeout_secs = REQUEST_TIMEOUT_SECS;
        settings.object_store.read_idle_timeout_secs = REQUEST_TIMEOUT_SECS;
    })
    .await;

    // More pauses than the store client retries a broken response (3), each longer than the
    // request timeout: a whole-request timeout on reads would fail this read.
    let pause = Duration::from_millis(REQUEST_TIMEOUT_SECS * 1000 + 500);
    let bytes = read_slowly(
        &mut clients,
        &format!("{}/pages/1", document.name),
        5,
        pause,
    )
    .await
    .expect("a slow reader is not cut off");
    assert_eq!(bytes.len(), page.len());
    assert!(bytes == page, "the page reads back whole");
}
