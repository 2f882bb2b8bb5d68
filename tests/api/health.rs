//! Health: SERVING only while both backends answer; backend outages are UNAVAILABLE.

use std::time::Duration;

use custodian::proto::v1 as pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, TestConfig, spawn_app, spawn_app_with};

async fn status_of(app: &TestApp, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(app.channel.clone());
    let response = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("the health service always answers")
        .into_inner();
    response.status()
}

/// Polls until `service` reports `wanted`, for at most five seconds.
async fn eventually(app: &TestApp, service: &str, wanted: ServingStatus) -> ServingStatus {
    let mut status = status_of(app, service).await;
    for _ in 0..50 {
        if status == wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = status_of(app, service).await;
    }
    status
}

#[tokio::test]
async fn health_is_serving_when_both_backends_answer() {
    let app = spawn_app().await;
    assert_eq!(
        eventually(&app, "", ServingStatus::Serving).await,
        ServingStatus::Serving
    );
    let named = eventually(&app, "custodian.v1.DocumentService", ServingStatus::Serving).await;
    assert_eq!(named, ServingStatus::Serving);
}

#[tokio::test]
async fn health_is_not_serving_while_postgresql_is_unreachable() {
    let mut app = spawn_app_with(TestConfig {
        database_reachable: false,
        ..TestConfig::default()
    })
    .await;
    // Several probe intervals (200 ms) pass without the status turning SERVING.
    let status = eventually(&app, "", ServingStatus::Serving).await;
    assert_eq!(status, ServingStatus::NotServing);

    let call = app
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/1200000001".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(call.code(), Code::Unavailable);
    assert!(
        !call.message().contains("127.0.0.1"),
        "the cause stays in the log"
    );
}

#[tokio::test]
async fn health_is_not_serving_while_the_object_store_is_unreachable() {
    let app = spawn_app_with(TestConfig {
        object_store_reachable: false,
        ..TestConfig::default()
    })
    .await;
    let status = eventually(&app, "", ServingStatus::Serving).await;
    assert_eq!(status, ServingStatus::NotServing);
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_and_lets_a_filing_in_flight_finish() {
    use bytes::Bytes;
    use custodian::proto::v1::file_document_request::Part;

    use crate::helpers::{jpeg_page, message, open_filing};

    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    assert_eq!(
        eventually(&app, "", ServingStatus::Serving).await,
        ServingStatus::Serving
    );

    let (sender, call) = open_filing(app.documents.clone(), "1200000001", "draining").await;
    let page = jpeg_page(300_000, 3);
    sender
        .send(message(Part::Chunk(Bytes::copy_from_slice(
            &page[..100_000],
        ))))
        .await
        .unwrap();

    // A watcher started before the signal sees the status turn NOT_SERVING.
    let mut watch = HealthClient::new(app.channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    app.begin_stop();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the status changes promptly")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);

    // The stream that was under way completes after the signal.
    sender
        .send(message(Part::Chunk(Bytes::copy_from_slice(
            &page[100_000..],
        ))))
        .await
        .unwrap();
    drop(sender);
    let document = call
        .await
        .unwrap()
        .expect("the in-flight filing completes")
        .into_inner();
    assert_eq!(document.pages[0].size_bytes, 300_000);
    app.wait_stopped().await.unwrap();
}
