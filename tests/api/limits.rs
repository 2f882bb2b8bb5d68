//! Protective limits: calls beyond the limit of calls in flight, unary calls that run too long
//! and messages that are too large are refused at once with a status a caller can act on;
//! streams in flight finish during a drain.

use std::time::{Duration, Instant};

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{
    TestApp, TestConfig, filing, header, jpeg_page, message, open_filing, spawn_app_with,
};

/// The smallest `server.max_message_bytes` the server accepts: one ReadPage chunk and framing.
const SMALLEST_MESSAGE_LIMIT: usize = 1024 * 1024 + 1024;

fn get_customer() -> pb::GetCustomerRequest {
    pb::GetCustomerRequest {
        name: "customers/1200000001".into(),
    }
}

/// Files one page of `size` bytes and returns the page's name and bytes.
async fn file_page(app: &mut TestApp, size: usize, request_id: &str) -> (String, Vec<u8>) {
    let page = jpeg_page(size, 7);
    let document = app
        .file(filing(
            header("1200000001", request_id),
            std::slice::from_ref(&page),
            1024 * 1024,
        ))
        .await
        .expect("the page is filed");
    (document.pages[0].name.clone(), page)
}

/// Calls GetCustomer until it succeeds, for at most five seconds: a place freed by a call that
/// ended is returned when the server has dropped the call, a moment after the caller saw it end.
async fn eventually_admitted(app: &mut TestApp) {
    for _ in 0..100 {
        match app.customers.get_customer(get_customer()).await {
            Ok(_) => return,
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("calls are still refused five seconds after the call in flight ended");
}

#[tokio::test]
async fn a_call_beyond_the_limit_of_calls_in_flight_is_refused_at_once_and_health_answers() {
    let mut app = spawn_app_with(TestConfig {
        max_concurrent_requests: 1,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;
    let (name, page) = file_page(&mut app, 6 * 1024 * 1024, "held").await;

    // The server has answered the ReadPage, so the call is in flight; as nobody reads it, its
    // stream stalls on HTTP/2 flow control (a 2 MiB window) and keeps its place.
    let mut held = app
        .pages
        .clone()
        .read_page(pb::ReadPageRequest {
            name,
            ..Default::default()
        })
        .await
        .expect("the read is admitted")
        .into_inner();

    let started = Instant::now();
    let refused = app
        .customers
        .get_customer(get_customer())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, not queued: {:?}",
        started.elapsed()
    );
    assert!(
        refused.message().contains("limit of 1 calls in flight"),
        "{}",
        refused.message()
    );

    // Probes still reach a saturated server.
    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the health service answers while every place is taken")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    // The stream in flight is unharmed, and its place is free once it has ended.
    let mut bytes = Vec::new();
    while let Some(message) = held.message().await.expect("the stream goes on") {
        bytes.extend_from_slice(&message.chunk);
    }
    assert_eq!(bytes, page);
    eventually_admitted(&mut app).await;
}

#[tokio::test]
async fn a_filing_in_flight_holds_its_place_until_the_document_is_filed() {
    let mut app = spawn_app_with(TestConfig {
        max_concurrent_requests: 1,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;

    let (sender, filing) = open_filing(app.documents.clone(), "1200000001", "open").await;

    // Once the server has the filing (a moment after it was sent), other calls are refused.
    let mut refused = None;
    for _ in 0..100 {
        assert!(
            !filing.is_finished(),
            "the filing ended early: {:?}",
            filing.await
        );
        let started = Instant::now();
        match app.customers.get_customer(get_customer()).await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                refused = Some(started.elapsed());
                break;
            }
            outcome => assert!(outcome.is_ok(), "{outcome:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("a call is refused while the filing is open");
    assert!(
        refused < Duration::from_secs(1),
        "refused at once: {refused:?}"
    );

    sender
        .send(message(Part::Chunk(Bytes::from(jpeg_page(100_000, 1)))))
        .await
        .unwrap();
    drop(sender);
    let document = filing
        .await
        .unwrap()
        .expect("the filing in flight completes")
        .into_inner();
    assert_eq!(document.pages.len(), 1);
    eventually_admitted(&mut app).await;
}

#[tokio::test]
async fn a_unary_call_over_the_time_limit_is_answered_deadline_exceeded() {
    // With PostgreSQL unreachable a GetCustomer waits for a pooled connection for the harness's
    // `database.acquire_timeout_secs` (2 s), which is longer than the unary limit.
    let mut app = spawn_app_with(TestConfig {
        database_reachable: false,
        unary_timeout_secs: 1,
        ..TestConfig::default()
    })
    .await;

    let started = Instant::now();
    let status = app
        .customers
        .get_customer(get_customer())
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("limit of 1 s"),
        "{}",
        status.message()
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(2),
        "answered at the limit, before the pool gave up: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_filing_that_outlasts_the_unary_time_limit_still_completes() {
    let mut app = spawn_app_with(TestConfig {
        unary_timeout_secs: 1,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;
    let page = jpeg_page(200_000, 2);

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut client = app.documents.clone();
    let filing =
        tokio::spawn(async move { client.file_document(ReceiverStream::new(receiver)).await });
    for part in [
        Part::Header(header("1200000001", "slow")),
        Part::PageStart(pb::PageStart::default()),
        Part::Chunk(Bytes::copy_from_slice(&page[..100_000])),
    ] {
        sender.send(message(part)).await.unwrap();
    }
    // A caller that pauses longer than the unary limit (but within the filing idle timeout).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sender
        .send(message(Part::Chunk(Bytes::copy_from_slice(
            &page[100_000..],
        ))))
        .await
        .unwrap();
    drop(sender);

    let document = filing
        .await
        .unwrap()
        .expect("a streaming call is not cut by the unary time limit")
        .into_inner();
    assert_eq!(document.pages[0].size_bytes, 200_000);
}

#[tokio::test]
async fn a_unary_request_over_the_message_limit_is_refused_with_out_of_range() {
    let mut app = spawn_app_with(TestConfig {
        max_message_bytes: SMALLEST_MESSAGE_LIMIT,
        ..TestConfig::default()
    })
    .await;
    let mut customer = crate::helpers::customer("1200000001", "120101");
    customer.display_name = "x".repeat(2 * 1024 * 1024);

    let status = app
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
        })
        .await
        .unwrap_err();
    // tonic's decoder answers OUT_OF_RANGE (gRPC's own libraries say RESOURCE_EXHAUSTED).
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_filing_chunk_over_the_message_limit_is_refused_with_resource_exhausted() {
    let mut app = spawn_app_with(TestConfig {
        max_message_bytes: SMALLEST_MESSAGE_LIMIT,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;
    let page = jpeg_page(3 * 1024 * 1024, 3);

    let status = app
        .file(filing(
            header("1200000001", "big-chunk"),
            std::slice::from_ref(&page),
            page.len(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("send smaller chunks"),
        "{}",
        status.message()
    );

    // Smaller chunks file the same page, and its 1 MiB reply chunks fit the smallest limit.
    let (name, page) = file_page(&mut app, page.len(), "small-chunks").await;
    let (_, bytes) = app.read_page(&name).await.expect("the page reads back");
    assert_eq!(bytes, page);
}

#[tokio::test]
async fn a_page_being_read_when_the_server_drains_is_read_to_its_end() {
    let mut app = spawn_app_with(TestConfig::default()).await;
    app.create_customer("1200000001").await;
    let (name, page) = file_page(&mut app, 6 * 1024 * 1024, "drain").await;
    let mut reading = app
        .pages
        .clone()
        .read_page(pb::ReadPageRequest {
            name,
            ..Default::default()
        })
        .await
        .expect("the read starts")
        .into_inner();
    let first = reading.message().await.unwrap().expect("the first message");
    let mut bytes = first.chunk.to_vec();

    app.begin_stop();
    while let Some(message) = reading.message().await.expect("the stream goes on") {
        bytes.extend_from_slice(&message.chunk);
    }
    assert_eq!(bytes, page);
    app.wait_stopped().await.expect("the server stops cleanly");
}
