//! A crash or an outage loses nothing: page deletions are recorded before the objects go, so a
//! filing of the same bytes never commits a page whose object is gone.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, filing, header, jpeg_page, sha256_hex, spawn_app, spawn_app_with,
};

const ACCOUNT: &str = "1201000001";

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

/// Files a notice (kept 10 years) of these pages under `request_id`.
async fn file_notice(
    app: &mut TestApp,
    request_id: &str,
    pages: &[Vec<u8>],
) -> Result<pb::Document, tonic::Status> {
    let header = pb::FilingHeader {
        document_type: "notice".into(),
        ..header(ACCOUNT, request_id)
    };
    app.file(filing(header, pages, 4096)).await
}

/// Proposes (alice) and approves (bob) the destruction of one document; the approval starts
/// the deletion of its page objects beside the reply.
async fn destroy(app: &TestApp, document: &str) {
    let list = propose(app, document).await;
    approve(app, &list).await;
}

async fn propose(app: &TestApp, document: &str) -> String {
    app.clients_as(&custodian_named("alice"))
        .disposal
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "appraisal meeting 2036-03".into(),
            documents: vec![document.into()],
        })
        .await
        .expect("the list is proposed")
        .into_inner()
        .name
}

async fn approve(app: &TestApp, list: &str) {
    let approved = app
        .clients_as(&custodian_named("bob"))
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.into(),
            note: "checked against the register".into(),
        })
        .await
        .expect("the list is approved")
        .into_inner();
    assert_eq!(approved.state(), pb::DestructionListState::Destroyed);
}

fn object_key(bytes: &[u8]) -> Path {
    let hex = sha256_hex(bytes);
    Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]))
}

/// Whether the page object of these bytes is in the test's part of the store.
async fn stored(app: &TestApp, bytes: &[u8]) -> bool {
    match app.objects.head(&object_key(bytes)).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(error) => panic!("the store answers a HEAD: {error}"),
    }
}

async fn database(app: &TestApp) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .expect("the test database answers")
}

/// The deletion row of these bytes' content: (claimed, deleted); `None` when there is none.
async fn deletion_state(app: &TestApp, bytes: &[u8]) -> Option<(bool, bool)> {
    sqlx::query_as(
        "SELECT claim_time IS NOT NULL, delete_time IS NOT NULL
         FROM content_destructions WHERE sha256 = $1",
    )
    .bind(hex::decode(sha256_hex(bytes)).expect("hex"))
    .fetch_optional(&mut database(app).await)
    .await
    .expect("the deletion row reads")
}

/// Waits (at most 10 s) until the object of these bytes is deleted and its deletion stamped.
async fn wait_deleted(app: &TestApp, bytes: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while deletion_state(app, bytes).await != Some((true, true)) || stored(app, bytes).await {
        assert!(
            Instant::now() < deadline,
            "the deletion of the page object finishes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server on the same database and objects, as after a restart: it sweeps at start.
async fn restart(app: &TestApp) -> TestApp {
    spawn_app_with(TestConfig {
        shared_database: Some(app.database_url.clone()),
        shared_object_prefix: Some(app.object_prefix.clone()),
        ..TestConfig::default()
    })
    .await
}

/// Files a document of `page`, destroys it and waits until its object is deleted.
async fn destroyed_page(app: &mut TestApp, seed: u64) -> Vec<u8> {
    app.create_customer(ACCOUNT).await;
    let page = jpeg_page(700, seed);
    let doomed = file_notice(app, "doomed", std::slice::from_ref(&page))
        .await
        .expect("the first filing succeeds")
        .name;
    app.clock.advance(TimeDelta::days(366 * 10));
    destroy(app, &doomed).await;
    wait_deleted(app, &page).await;
    page
}

/// Puts the deletion of `page` back to recorded and not finished: what a deleter leaves that
/// crashed, or lost the database, after its claim and before (or after) the delete. With
/// `object_there`, the object is back in the store too: the delete has not happened yet.
async fn unfinish_deletion(app: &TestApp, page: &[u8], object_there: bool) {
    if object_there {
        app.objects
            .put(&object_key(page), bytes::Bytes::from(page.to_vec()).into())
            .await
            .expect("the object is put back");
    }
    let unstamped =
        sqlx::query("UPDATE content_destructions SET delete_time = NULL WHERE sha256 = $1")
            .bind(hex::decode(sha256_hex(page)).expect("hex"))
            .execute(&mut database(app).await)
            .await
            .expect("the deletion is unstamped");
    assert_eq!(unstamped.rows_affected(), 1);
}

/// A filing of `page` while its deletion is recorded and unfinished is refused (the object may
/// be gone any moment); once a sweep finishes the deletion, its retry stores the page again
/// and reads it back whole.
async fn filing_during_an_unfinished_deletion(object_there: bool) {
    let mut app = spawn_app().await;
    let page = destroyed_page(&mut app, 7).await;
    unfinish_deletion(&app, &page, object_there).await;

    let refused = file_notice(&mut app, "again", std::slice::from_ref(&page))
        .await
        .expect_err("no page is committed while its object may be deleted");
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    assert!(refused.message().contains("retry"), "{}", refused.message());

    // The next start finishes the deletion; the same call, retried, then files the page anew.
    let restarted = restart(&app).await;
    wait_deleted(&app, &page).await;
    let again = file_notice(&mut app, "again", std::slice::from_ref(&page))
        .await
        .expect("the retry after the deletion succeeds");
    let (_, bytes) = app
        .read_page(&format!("{}/pages/1", again.name))
        .await
        .expect("the page reads back");
    assert_eq!(bytes, page, "the page reads back whole");
    drop(restarted);
}

#[tokio::test]
async fn a_filing_between_a_recorded_deletion_and_the_delete_is_refused_then_reads_back_whole() {
    filing_during_an_unfinished_deletion(true).await;
}

#[tokio::test]
async fn a_filing_after_a_delete_whose_record_was_lost_is_refused_then_reads_back_whole() {
    filing_during_an_unfinished_deletion(false).await;
}

#[tokio::test]
async fn a_filing_of_a_content_only_queued_for_deletion_takes_it_back_and_keeps_it() {
    let mut app = spawn_app().await;
    let page = destroyed_page(&mut app, 8).await;
    // Queued and never claimed: what a crash right after the approval's commit leaves.
    app.objects
        .put(&object_key(&page), bytes::Bytes::from(page.clone()).into())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE content_destructions SET claim_time = NULL, delete_time = NULL WHERE sha256 = $1",
    )
    .bind(hex::decode(sha256_hex(&page)).unwrap())
    .execute(&mut database(&app).await)
    .await
    .unwrap();

    let again = file_notice(&mut app, "again", std::slice::from_ref(&page))
        .await
        .expect("a filing takes a content only queued back");
    assert_eq!(
        deletion_state(&app, &page).await,
        None,
        "the queued deletion is gone"
    );
    let restarted = restart(&app).await;
    // The restarted server's sweep has nothing to delete: the page stays whole.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stored(&app, &page).await);
    let (_, bytes) = app
        .read_page(&format!("{}/pages/1", again.name))
        .await
        .unwrap();
    assert_eq!(bytes, page);
    drop(restarted);
}

#[tokio::test]
async fn filings_racing_the_deletion_of_the_same_bytes_read_back_whole() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let pages: Vec<Vec<u8>> = (0..4).map(|seed| jpeg_page(2000, 100 + seed)).collect();
    let mut doomed = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let document = file_notice(&mut app, &format!("doomed-{i}"), std::slice::from_ref(page))
            .await
            .unwrap();
        doomed.push(document.name);
    }
    app.clock.advance(TimeDelta::days(366 * 10));
    for (i, page) in pages.iter().enumerate() {
        let list = propose(&app, &doomed[i]).await;
        // The approval (whose deleter starts beside the reply) and a filing of the same bytes
        // at once: whichever wins, a committed filing must read back whole.
        let mut filer = app.clients_as(&Token::custodian()).documents;
        let header = pb::FilingHeader {
            document_type: "notice".into(),
            ..header(ACCOUNT, &format!("again-{i}"))
        };
        let messages = filing(header, std::slice::from_ref(page), 512);
        let (_, filed) = tokio::join!(
            approve(&app, &list),
            filer.file_document(futures::stream::iter(messages.clone()))
        );
        let document = match filed {
            Ok(document) => document.into_inner(),
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                retry_filing(&mut app, messages).await
            }
        };
        // Let the deleter finish whatever it claimed before reading.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, bytes) = app
            .read_page(&format!("{}/pages/1", document.name))
            .await
            .unwrap_or_else(|status| panic!("round {i}: the page reads back: {status:?}"));
        assert_eq!(&bytes, page, "round {i}: the page reads back whole");
    }
}

/// Retries an aborted filing until the deletion it raced is done (at most 10 s).
async fn retry_filing(app: &mut TestApp, messages: Vec<pb::FileDocumentRequest>) -> pb::Document {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match app.file(messages.clone()).await {
            Ok(document) => return document,
            Err(status) if status.code() == Code::Aborted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("the retried filing succeeds: {status:?}"),
        }
    }
}
