//! Nobody holds the service hostage: an upload that never sends its header is ended at the
//! idle timeout and recorded, a reply its caller stops reading is cut off and recorded, and one
//! caller cannot take every place among the calls in flight.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use futures::StreamExt as _;

use crate::helpers::{
    Clients, TestApp, TestConfig, Token, eventually, filing, header, jpeg_page, spawn_app_with,
};

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

/// Files one page of `bytes` for account 1201000001 and answers the page's name.
async fn large_page(app: &mut TestApp, bytes: usize) -> String {
    app.create_customer("1201000001").await;
    let page = jpeg_page(bytes, 7);
    let document = app
        .file(filing(
            header("1201000001", "large"),
            std::slice::from_ref(&page),
            1024 * 1024,
        ))
        .await
        .expect("the page is filed");
    format!("{}/pages/1", document.name)
}

#[tokio::test]
async fn a_page_reply_its_caller_stops_reading_is_cut_off_and_its_place_given_back() {
    let config = TestConfig {
        max_concurrent_requests: 1,
        reply_stall_timeout_secs: 1,
        ..TestConfig::default()
    };
    let mut app = spawn_app_with(config).await;
    // Far more than the caller's HTTP/2 window: the server must wait for the reader.
    let page = large_page(&mut app, 16 * 1024 * 1024).await;
    let clients = app.clients_as(&Token::custodian());

    let mut pages = clients.pages.clone();
    let reply = pages
        .read_page(pb::ReadPageRequest {
            name: page.clone(),
            ..Default::default()
        })
        .await
        .expect("the read starts");
    // The caller holds the reply and reads none of it. While it does, the only place is
    // taken…
    assert!(
        !admitted(&clients).await,
        "the unread reply holds the place"
    );
    // …until the server cuts the reply off, within two stall timeouts.
    eventually(
        Duration::from_secs(10),
        "the place to be given back",
        || admitted(&clients),
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the cut-off to be recorded",
        || async {
            audit_events(&app).await.contains(&(
                "ReadPage".into(),
                "deadline_exceeded".into(),
                "tester".into(),
            ))
        },
    )
    .await;
    // Reading now ends in the reason, not in a page that looks whole.
    let mut stream = reply.into_inner();
    let mut read = 0;
    let ended = loop {
        match stream.next().await {
            Some(Ok(message)) => read += message.chunk.len(),
            Some(Err(status)) => break Some(status),
            None => break None,
        }
    };
    assert!(read < 16 * 1024 * 1024, "the page was not sent whole");
    if let Some(status) = ended {
        assert!(
            matches!(
                status.code(),
                Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
            ),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_reader_that_keeps_reading_slowly_is_not_cut_off() {
    // HTTP/2 returns window to the server in steps of about half a window, so a steady reader
    // still leaves the server waiting a few of its pauses at a time: a wide margin keeps this
    // about the reader, not the window's arithmetic on a loaded machine.
    let config = TestConfig {
        reply_stall_timeout_secs: 3,
        ..TestConfig::default()
    };
    let mut app = spawn_app_with(config).await;
    let page = large_page(&mut app, 4 * 1024 * 1024).await;
    let clients = app.clients_as(&Token::custodian());

    let mut pages = clients.pages.clone();
    let mut stream = pages
        .read_page(pb::ReadPageRequest {
            name: page,
            ..Default::default()
        })
        .await
        .expect("the read starts")
        .into_inner();
    let mut read = 0;
    while let Some(message) = stream.next().await {
        read += message
            .expect("a slow but steady reader is served")
            .chunk
            .len();
        // Slower than the server could send, but well within the stall timeout each time.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(read, 4 * 1024 * 1024);
}
