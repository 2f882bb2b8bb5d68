//! TLS on the listener: a client that trusts the CA is served and a plaintext one is not, a
//! replaced certificate is served to new connections without a restart, and under mutual TLS
//! the client certificate must name the token's `client_id`.

use std::path::Path;
use std::time::Duration;

use custodian::proto::v1 as pb;
use custodian::settings::TlsSettings;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Clients, TestApp, TestConfig, Token, eventually, spawn_app_with};

/// A certificate authority made up for one test.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate with `name` as its DNS SAN and its key, both PEM.
    fn certify(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    fn trusted(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.pem))
            .domain_name("localhost")
    }
}

/// Writes the server's certificate and key for `authority` into `dir`; their settings.
fn server_files(dir: &Path, authority: &Authority) -> TlsSettings {
    let (cert, key) = authority.certify("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let cert_file = dir.join("tls.crt");
    let key_file = dir.join("tls.key");
    // The key first: a reload between the two writes fails (mismatched pair) and is retried.
    std::fs::write(&key_file, key).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    TlsSettings {
        cert_file: cert_file.display().to_string(),
        key_file: key_file.display().to_string(),
        client_ca_file: String::new(),
    }
}

async fn spawn_tls_app(tls: TlsSettings) -> TestApp {
    spawn_app_with(TestConfig {
        tls,
        ..TestConfig::default()
    })
    .await
}

async fn list_types(clients: &Clients) -> Result<usize, tonic::Status> {
    let mut clients = clients.clone();
    clients
        .document_types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .map(|reply| reply.into_inner().document_types.len())
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_is_served_over_tls_and_a_plaintext_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("custodian test ca");
    let app = spawn_tls_app(server_files(dir.path(), &authority)).await;

    let channel = app.tls_channel(authority.trusted()).await.unwrap();
    let types = list_types(&Clients::new(&channel, Some(&Token::custodian().mint())))
        .await
        .expect("served over tls");
    assert!(types > 0);

    // The harness's own channel speaks plaintext HTTP/2 to the TLS listener.
    let plaintext = list_types(&app.clients(Some(&Token::custodian().mint()))).await;
    assert!(plaintext.is_err(), "plaintext was served: {plaintext:?}");

    // A client that does not trust the server's CA does not get through either.
    let stranger = Authority::new("another ca");
    assert!(app.tls_channel(stranger.trusted()).await.is_err());
}

#[tokio::test]
async fn replaced_certificate_files_are_served_to_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old = Authority::new("old ca");
    let app = spawn_tls_app(server_files(dir.path(), &old)).await;
    let token = Token::custodian().mint();
    let before = app.tls_channel(old.trusted()).await.unwrap();
    list_types(&Clients::new(&before, Some(&token)))
        .await
        .unwrap();

    let new = Authority::new("new ca");
    server_files(dir.path(), &new);
    eventually(Duration::from_secs(10), "the new certificate", || async {
        match app.tls_channel(new.trusted()).await {
            Ok(channel) => list_types(&Clients::new(&channel, Some(&token)))
                .await
                .is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(
        app.tls_channel(old.trusted()).await.is_err(),
        "a new connection still gets the old certificate"
    );
    // The connection made before the rotation carries on.
    list_types(&Clients::new(&before, Some(&token)))
        .await
        .unwrap();
}

#[tokio::test]
async fn under_mutual_tls_the_client_certificate_must_name_the_tokens_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Authority::new("server ca");
    let clients_ca = Authority::new("client ca");
    let ca_file = dir.path().join("clients-ca.crt");
    std::fs::write(&ca_file, &clients_ca.pem).unwrap();
    let app = spawn_tls_app(TlsSettings {
        client_ca_file: ca_file.display().to_string(),
        ..server_files(dir.path(), &servers)
    })
    .await;
    let token = Token::custodian(); // client_id `archive-desk`
    let with_identity = |name: &str, authority: &Authority| {
        let (cert, key) = authority.certify(name, ExtendedKeyUsagePurpose::ClientAuth);
        servers.trusted().identity(Identity::from_pem(cert, key))
    };

    let matching = app
        .tls_channel(with_identity("archive-desk", &clients_ca))
        .await
        .unwrap();
    list_types(&Clients::new(&matching, Some(&token.mint())))
        .await
        .expect("the certificate names the token's client_id");

    let other = app
        .tls_channel(with_identity("marketing", &clients_ca))
        .await
        .unwrap();
    let refused = list_types(&Clients::new(&other, Some(&token.mint())))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("client certificate"),
        "{refused:?}"
    );

    // No certificate, or one the client CA did not sign: no call gets through.
    let without = match app.tls_channel(servers.trusted()).await {
        Ok(channel) => list_types(&Clients::new(&channel, Some(&token.mint()))).await,
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };
    assert!(without.is_err(), "served without a client certificate");
    let forged = match app
        .tls_channel(with_identity("archive-desk", &servers))
        .await
    {
        Ok(channel) => list_types(&Clients::new(&channel, Some(&token.mint()))).await,
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };
    assert!(forged.is_err(), "served with a certificate of another CA");

    // The mismatch is in the audit trail like any refusal.
    let url = app.database_url.expose_secret().to_string();
    eventually(Duration::from_secs(5), "the refusal's event", || {
        let url = url.clone();
        async move {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM audit_events
                 WHERE outcome = 'unauthenticated' AND details LIKE '%client certificate%'",
            )
            .fetch_one(&mut db)
            .await
            .unwrap();
            count > 0
        }
    })
    .await;
}

#[tokio::test]
async fn probes_that_cannot_speak_tls_get_health_alone_on_the_probe_listener() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("custodian test ca");
    let app = spawn_app_with(TestConfig {
        tls: server_files(dir.path(), &authority),
        health_listen_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..TestConfig::default()
    })
    .await;
    let address = app.health_address.expect("the probe listener is bound");
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("the probe listener speaks plaintext");

    // The kubelet's probe: health in plaintext, with the main listener's answer.
    let mut health = HealthClient::new(channel.clone());
    eventually(Duration::from_secs(10), "the probe to see SERVING", || {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok_and(|reply| reply.into_inner().status == ServingStatus::Serving as i32)
        }
    })
    .await;
    let check = health
        .check(HealthCheckRequest {
            service: "custodian.v1.DocumentService".into(),
        })
        .await
        .expect("the services' health is there too");
    assert_eq!(check.into_inner().status, ServingStatus::Serving as i32);

    // Nothing else is routed there, with or without a token.
    let status = list_types(&Clients::new(&channel, Some(&Token::custodian().mint())))
        .await
        .expect_err("only health is served for probes");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}
