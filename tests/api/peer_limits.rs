//! What unauthenticated peers can hold stays bounded: connections beyond
//! `server.max_connections` are closed at once, and health, which needs no token, decodes
//! nothing larger than a health request.

use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, TestConfig, eventually, spawn_app_with};

/// A new HTTP/2 connection of its own to the server, or the error that kept it from opening.
async fn connection(app: &TestApp) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{}", app.address))
        .expect("a valid address")
        .connect()
        .await
}

/// Whether a health check over `channel` answers SERVING.
async fn serving(channel: &Channel) -> bool {
    let mut health = HealthClient::new(channel.clone());
    match health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(reply) => reply.into_inner().status == ServingStatus::Serving as i32,
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_connection_beyond_the_limit_is_closed_and_its_place_comes_back() {
    // The test app's own channel is the first connection.
    let app = spawn_app_with(TestConfig {
        max_connections: 2,
        ..TestConfig::default()
    })
    .await;
    eventually(Duration::from_secs(5), "the server to serve", || {
        serving(&app.channel)
    })
    .await;
    let second = connection(&app).await.expect("the second connection opens");
    assert!(serving(&second).await);

    // The third is closed as soon as it is accepted: it never answers.
    let third = connection(&app).await;
    let answered = match &third {
        Ok(channel) => serving(channel).await,
        Err(_) => false,
    };
    assert!(!answered, "a connection beyond the limit answered");
    assert!(
        serving(&app.channel).await,
        "the connections within the limit still answer"
    );

    // Once the second closes, its place serves a new connection.
    drop(second);
    drop(third);
    eventually(
        Duration::from_secs(10),
        "a freed place to take a new connection",
        || async {
            match connection(&app).await {
                Ok(channel) => serving(&channel).await,
                Err(_) => false,
            }
        },
    )
    .await;
}

#[tokio::test]
async fn health_refuses_a_request_larger_than_a_health_request_needs() {
    let app = spawn_app_with(TestConfig::default()).await;
    let mut health = HealthClient::new(app.channel.clone());

    let status = health
        .check(HealthCheckRequest {
            service: "x".repeat(64 * 1024),
        })
        .await
        .expect_err("a 64 KiB service name is refused");
    // tonic's decoder answers OUT_OF_RANGE for a message over the limit.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let ok = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert!(ok.is_ok(), "an ordinary health check still answers: {ok:?}");
}
