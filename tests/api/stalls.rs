//! Nobody holds the service hostage: an upload that never sends its header is ended at the
//! idle timeout and recorded, and one caller cannot take every place among the calls in flight.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::helpers::{Clients, TestApp, TestConfig, Token, eventually, spawn_app_with};

/// Opens a filing and sends nothing: the caller keeps the stream open and silent.
fn silent_filing(
    clients: &Clients,
) -> (
    tokio::sync::mpsc::Sender<pb::FileDocumentRequest>,
    tokio::task::JoinHandle<Result<tonic::Response<pb::Document>, tonic::Status>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let mut documents = clients.documents.clone();
    let call =
        tokio::spawn(async move { documents.file_document(ReceiverStream::new(receiver)).await });
    (sender, call)
}

/// Whether the server admits a cheap call of `clients` now.
async fn admitted(clients: &Clients) -> bool {
    let mut types = clients.document_types.clone();
    match types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
    {
        Ok(_) => true,
        Err(status) => {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            false
        }
    }
}

/// The (action, outcome, person) of the audit events written so far.
async fn audit_events(app: &TestApp) -> Vec<(String, String, String)> {
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .expect("the test database answers");
    sqlx::query_as("SELECT action, outcome, person FROM audit_events ORDER BY seq")
        .fetch_all(&mut db)
        .await
        .expect("the audit events are readable")
}

#[tokio::test]
async fn a_filing_that_never_sends_its_header_is_ended_at_the_idle_timeout_and_recorded() {
    let mut config = TestConfig {
        max_concurrent_requests: 1,
        ..TestConfig::default()
    };
    config.limits.filing_idle_timeout_secs = 1;
    let app = spawn_app_with(config).await;
    let clients = app.clients_as(&Token::custodian());

    let (_silent, call) = silent_filing(&clients);
    let status = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the server ends the silent filing by itself")
        .expect("the call task finishes")
        .expect_err("a filing without a header is refused");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("header"), "{}", status.message());

    // The only place among the calls in flight is free again.
    eventually(Duration::from_secs(5), "the place to be freed", || {
        admitted(&clients)
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "the refusal to be recorded",
        || async {
            audit_events(&app).await.contains(&(
                "FileDocument".into(),
                "deadline_exceeded".into(),
                "tester".into(),
            ))
        },
    )
    .await;
}

#[tokio::test]
async fn a_correction_whose_first_message_is_not_a_header_is_recorded() {
    let app = spawn_app_with(TestConfig::default()).await;
    let clients = app.clients_as(&Token::custodian());
    let mut documents = clients.documents.clone();
    let not_a_header = pb::CorrectDocumentRequest {
        part: Some(pb::correct_document_request::Part::Chunk(
            bytes::Bytes::from_static(&[1, 2, 3]),
        )),
    };

    let status = documents
        .correct_document(futures::stream::iter([not_a_header]))
        .await
        .expect_err("a correction must open with its header");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    eventually(
        Duration::from_secs(5),
        "the refusal to be recorded",
        || async {
            audit_events(&app).await.contains(&(
                "CorrectDocument".into(),
                "invalid_argument".into(),
                "tester".into(),
            ))
        },
    )
    .await;
}

#[tokio::test]
async fn one_caller_cannot_take_every_place_among_the_calls_in_flight() {
    let mut config = TestConfig {
        max_concurrent_requests: 4,
        max_requests_per_caller: 2,
        ..TestConfig::default()
    };
    // Long enough that the silent filings stay open for the whole test.
    config.limits.filing_idle_timeout_secs = 60;
    let app = spawn_app_with(config).await;
    let stalling = app.clients_as(&Token::custodian());
    let mut other_person = Token::custodian();
    other_person.person = Some("another-clerk".into());
    let other = app.clients_as(&other_person);

    // Three filings that never send anything: the caller's two places hold two of them, and
    // whichever arrives third is refused at once…
    let filings = vec![
        silent_filing(&stalling),
        silent_filing(&stalling),
        silent_filing(&stalling),
    ];
    let (senders, calls): (Vec<_>, Vec<_>) = filings.into_iter().unzip();
    let (refused, _, still_open) =
        tokio::time::timeout(Duration::from_secs(5), futures::future::select_all(calls))
            .await
            .expect("one of the three filings is refused");
    let status = refused
        .expect("the call task finishes")
        .expect_err("the third filing is refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("archive-desk/tester"),
        "{}",
        status.message()
    );
    // …and so is any other call of the same caller while the two are held,
    let mut types = stalling.document_types.clone();
    let status = types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .expect_err("the stalling caller has no place left");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // while another person of the same system is still served.
    assert!(admitted(&other).await, "another caller is admitted");
    assert!(still_open.iter().all(|call| !call.is_finished()));
    drop(senders);
}
