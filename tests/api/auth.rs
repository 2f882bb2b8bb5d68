//! Authentication: which tokens open the API, and the exact refusal for each bad one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custodian::proto::v1 as pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, Token, spawn_app};

async fn status_with(app: &TestApp, token: Option<&str>) -> Result<(), tonic::Status> {
    app.clients(token)
        .document_types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .map(|_| ())
}

async fn refusal(app: &TestApp, token: &str) -> String {
    let status = status_with(app, Some(token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{}", status.message());
    status.message().to_owned()
}

#[tokio::test]
async fn a_valid_ed25519_or_rs256_token_opens_the_api() {
    let app = spawn_app().await;
    status_with(&app, Some(&Token::custodian().mint()))
        .await
        .unwrap();
    let rsa = Token {
        algorithm: jsonwebtoken::Algorithm::RS256,
        key_file: "issuer-rsa.pem".into(),
        ..Token::custodian()
    };
    status_with(&app, Some(&rsa.mint())).await.unwrap();
}

#[tokio::test]
async fn calls_without_a_token_are_unauthenticated_except_health() {
    let app = spawn_app().await;
    let status = status_with(&app, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("bearer token is required"),
        "{}",
        status.message()
    );

    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "health answers without a token");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let cases = [
        (
            Token {
                key_file: "stranger-ed25519.pem".into(),
                ..Token::custodian()
            },
            "signature",
        ),
        (
            Token {
                audience: "billing".into(),
                ..Token::custodian()
            },
            "audience",
        ),
        (
            Token {
                issuer: "https://evil.example".into(),
                ..Token::custodian()
            },
            "issuer",
        ),
        (
            Token {
                expires_in: -120,
                ..Token::custodian()
            },
            "expired",
        ),
        (
            Token {
                not_before_in: 300,
                ..Token::custodian()
            },
            "not valid yet",
        ),
        (
            Token {
                person: None,
                ..Token::custodian()
            },
            "sub",
        ),
        (
            Token {
                system: None,
                ..Token::custodian()
            },
            "client_id",
        ),
        (
            Token {
                role: None,
                ..Token::custodian()
            },
            "role",
        ),
        (
            Token {
                org_unit: Some("1x".into()),
                ..Token::custodian()
            },
            "org_unit",
        ),
    ];
    for (token, reason) in cases {
        let message = refusal(&app, &token.mint()).await;
        assert!(message.contains(reason), "{reason:?} not in {message:?}");
    }
}

#[tokio::test]
async fn an_unsigned_token_with_algorithm_none_is_refused() {
    let app = spawn_app().await;
    let signed = Token::custodian().mint();
    let claims = signed.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let message = refusal(&app, &format!("{header}.{claims}.")).await;
    assert!(!message.is_empty());
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // The classic algorithm confusion: sign with HS256 using the server's public key as secret.
    let app = spawn_app().await;
    let public = std::fs::read(crate::helpers::fixture("issuer-ed25519.pub.pem")).unwrap();
    let claims: serde_json::Value = {
        let signed = Token::custodian().mint();
        let payload = signed.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    let message = refusal(&app, &forged).await;
    assert!(message.contains("not accepted"), "{message}");
}

#[tokio::test]
async fn garbage_in_the_authorization_header_is_refused() {
    let app = spawn_app().await;
    for token in ["", "abc", "a.b.c", "Basic dXNlcjpwYXNz"] {
        let status = status_with(&app, Some(token)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
    }
}

#[tokio::test]
async fn a_system_asserting_a_role_it_is_not_given_is_denied() {
    let app = spawn_app().await;
    let forged = Token::new("payment-channel", "province-custodian", Some("12"));
    let status = status_with(&app, Some(&forged.mint())).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let unknown = Token::new("unknown-system", "customer", None);
    let status = status_with(&app, Some(&unknown.mint())).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}
