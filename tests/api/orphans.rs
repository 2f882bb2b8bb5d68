//! The orphan collector: page objects no page row refers to (left by failed filings) and stale
//! `staging/` uploads go once past the grace period; young and referenced objects stay, and a
//! filing racing the collector either commits a page that reads back whole or fails to retry.
//!
//! The collection runs as the server's job does, on an archive over the test's own database
//! and objects, so each test picks its moment and its grace period.

use std::time::{Duration, Instant};

use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use tonic::Code;

use crate::helpers::{
    TestApp, filing, header, jpeg_page, message, open_filing, sha256_hex, spawn_app,
};

const ACCOUNT: &str = "1201000001";

fn content_key(bytes: &[u8]) -> Path {
    let hex = sha256_hex(bytes);
    Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]))
}

async fn exists(app: &TestApp, key: &Path) -> bool {
    match app.objects.head(key).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(error) => panic!("the store answers a HEAD: {error}"),
    }
}

async fn put(app: &TestApp, key: &Path, bytes: &[u8]) {
    app.objects
        .put(key, bytes::Bytes::copy_from_slice(bytes).into())
        .await
        .expect("the object is written");
}

async fn read_back(app: &mut TestApp, document: &pb::Document, number: u32) -> Vec<u8> {
    app.read_page(&format!("{}/pages/{number}", document.name))
        .await
        .unwrap_or_else(|status| panic!("page {number} reads back: {status:?}"))
        .1
}

#[tokio::test]
async fn orphans_past_the_grace_period_go_and_young_or_referenced_objects_stay() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let archive = app.archive();
    let referenced = jpeg_page(900, 1);
    let document = app
        .file(filing(
            header(ACCOUNT, "kept"),
            std::slice::from_ref(&referenced),
            4096,
        ))
        .await
        .unwrap();
    let (old, young) = (jpeg_page(900, 2), jpeg_page(900, 3));
    let (old_staging, young_staging) = (
        Path::from(format!("staging/{}", uuid::Uuid::new_v4())),
        Path::from(format!("staging/{}", uuid::Uuid::new_v4())),
    );
    put(&app, &content_key(&old), &old).await;
    put(&app, &old_staging, b"part of a large page").await;
    // The store stamps write times itself (to the second): let these age past the 2 s grace.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let young_since = Instant::now();
    put(&app, &content_key(&young), &young).await;
    put(&app, &young_staging, b"part of a large page").await;

    let collected = archive
        .collect_orphans(Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(collected.orphan_pages, 1, "{collected:?}");
    // Deleted by this run's sweep (or, were it quicker, by the server's own).
    assert!(collected.deleted_pages <= 1, "{collected:?}");
    assert_eq!(collected.staging_objects, 1, "{collected:?}");
    assert!(
        !exists(&app, &content_key(&old)).await,
        "the old orphan is gone"
    );
    assert!(
        !exists(&app, &old_staging).await,
        "the old staging object is gone"
    );
    assert!(
        exists(&app, &content_key(&young)).await,
        "a young orphan stays"
    );
    assert!(
        exists(&app, &young_staging).await,
        "a young staging object stays"
    );
    assert!(exists(&app, &content_key(&referenced)).await);
    assert_eq!(read_back(&mut app, &document, 1).await, referenced);

    // Nothing is left to collect: a second run removes nothing. Its grace lies between the
    // young objects' age and the old ones' (3.2 s older), however long the first run took.
    let again = archive
        .collect_orphans(young_since.elapsed() + Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!((again.orphan_pages, again.staging_objects), (0, 0));
}

#[tokio::test]
async fn a_filing_whose_uploaded_page_the_collector_deleted_fails_and_its_retry_reads_back_whole() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let archive = app.archive();
    let (first, second) = (jpeg_page(900, 10), jpeg_page(900, 11));

    // The first page is stored (its upload starts when the second page starts), the filing is
    // still open: to the collector, with no grace, the first page is an orphan.
    let (sender, call) = open_filing(app.documents.clone(), ACCOUNT, "racing").await;
    sender
        .send(message(Part::Chunk(first.clone().into())))
        .await
        .unwrap();
    sender
        .send(message(Part::PageStart(pb::PageStart::default())))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exists(&app, &content_key(&first)).await {
        assert!(Instant::now() < deadline, "the first page is uploaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let collected = archive.collect_orphans(Duration::ZERO).await.unwrap();
    assert_eq!(collected.orphan_pages, 1, "{collected:?}");
    assert!(!exists(&app, &content_key(&first)).await);

    // The filing's transaction sees the deletion that came after its upload began.
    sender
        .send(message(Part::Chunk(second.clone().into())))
        .await
        .unwrap();
    drop(sender);
    let refused = call.await.unwrap().expect_err("the filing does not commit");
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");

    let pages = [first.clone(), second.clone()];
    let document = app
        .file(filing(header(ACCOUNT, "racing"), &pages, 4096))
        .await
        .expect("the retry succeeds");
    // Referenced now: the collector leaves it.
    let again = archive.collect_orphans(Duration::ZERO).await.unwrap();
    assert_eq!(again.orphan_pages, 0, "{again:?}");
    assert_eq!(read_back(&mut app, &document, 1).await, first);
    assert_eq!(read_back(&mut app, &document, 2).await, second);
}

#[tokio::test]
async fn filings_committing_while_the_collector_runs_read_back_whole() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let archive = app.archive();
    for round in 0..4u64 {
        let page = jpeg_page(1500, 20 + round);
        let messages = filing(
            header(ACCOUNT, &format!("round-{round}")),
            std::slice::from_ref(&page),
            256,
        );
        // Collections without grace run back to back while the filing uploads and commits.
        let mut documents = app.documents.clone();
        let filed = tokio::spawn(async move {
            documents
                .file_document(futures::stream::iter(messages))
                .await
                .map(tonic::Response::into_inner)
        });
        while !filed.is_finished() {
            archive.collect_orphans(Duration::ZERO).await.unwrap();
        }
        let document = match filed.await.unwrap() {
            Ok(document) => document,
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "round {round}: {status:?}");
                app.file(filing(
                    header(ACCOUNT, &format!("round-{round}")),
                    std::slice::from_ref(&page),
                    256,
                ))
                .await
                .unwrap_or_else(|status| panic!("round {round}: the retry succeeds: {status:?}"))
            }
        };
        // Had a committed page been queued, this run's deleter would delete it now.
        archive.collect_orphans(Duration::ZERO).await.unwrap();
        assert_eq!(
            read_back(&mut app, &document, 1).await,
            page,
            "round {round}: the page reads back whole"
        );
    }
}

#[tokio::test]
async fn the_server_collects_orphans_on_its_own() {
    let app = spawn_app().await;
    let orphan = jpeg_page(900, 30);
    put(&app, &content_key(&orphan), &orphan).await;
    let (_clients, _stop) = crate::slow_reads::server_with(&app, |settings| {
        settings.orphans.grace_period_secs = 0;
        settings.orphans.sweep_interval_secs = 1;
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while exists(&app, &content_key(&orphan)).await {
        assert!(
            Instant::now() < deadline,
            "the server's collector removes the orphan"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_replica_runs_an_upkeep_job_per_interval() {
    let app = spawn_app().await;
    let (first, second) = (app.archive(), app.archive());
    let hour = Duration::from_secs(3600);
    // Jobs of the test's own: the server's collector claims its own at start.
    let (job, other) = ("test_job", "another_test_job");
    assert!(first.claim_upkeep_run(job, hour).await.unwrap());
    assert!(!second.claim_upkeep_run(job, hour).await.unwrap());
    assert!(!first.claim_upkeep_run(job, hour).await.unwrap());
    assert!(second.claim_upkeep_run(other, hour).await.unwrap());
    assert!(
        second.claim_upkeep_run(job, Duration::ZERO).await.unwrap(),
        "due again once the interval has passed"
    );
}
