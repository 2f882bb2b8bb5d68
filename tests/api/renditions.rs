//! Renditions: each page's thumbnail and preview, made in the background from a durable queue,
//! read through ReadPage under the page's rules, reported on the document, and destroyed with
//! the page.

use std::time::Duration;

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use futures::StreamExt;
use image::GenericImageView;
use sqlx::Connection as _;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, eventually, filing, fixture, header, sha256_hex, spawn_app,
    spawn_app_with,
};

pub(crate) const ACCOUNT: &str = "1201000001";
/// How long a test waits for renditions: seconds at most on an idle server.
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(60);

pub(crate) fn scan(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("scans/{name}"))).expect("the fixture scan is there")
}

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

pub(crate) async fn file_pages(
    app: &mut TestApp,
    request_id: &str,
    kind: &str,
    pages: &[Vec<u8>],
) -> String {
    let header = pb::FilingHeader {
        document_type: kind.into(),
        ..header(ACCOUNT, request_id)
    };
    app.file(filing(header, pages, 64 * 1024))
        .await
        .unwrap()
        .name
}

pub(crate) async fn document(app: &TestApp, name: &str) -> pb::Document {
    app.documents
        .clone()
        .get_document(pb::GetDocumentRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until no page of the document is pending any more, and returns it.
pub(crate) async fn settled(app: &TestApp, name: &str) -> pb::Document {
    eventually(READY_WITHIN, "the document's renditions", || async {
        document(app, name)
            .await
            .pages
            .iter()
            .all(|page| page.rendition_state() != pb::RenditionState::Pending)
    })
    .await;
    document(app, name).await
}

/// Reads a page's rendition through ReadPage: its metadata and its bytes.
pub(crate) async fn read_rendition(
    pages: &mut custodian::proto::v1::page_service_client::PageServiceClient<
        crate::helpers::Authorized,
    >,
    page: &str,
    rendition: pb::Rendition,
) -> Result<(pb::Page, Vec<u8>), tonic::Status> {
    let mut stream = pages
        .read_page(pb::ReadPageRequest {
            name: page.into(),
            rendition: rendition.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut first = None;
    let mut bytes = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message?;
        first = first.or(message.page);
        bytes.extend_from_slice(&message.chunk);
    }
    Ok((first.expect("the first message carries the page"), bytes))
}

#[tokio::test]
async fn every_archival_format_gets_a_jpeg_thumbnail_and_preview_of_the_expected_size() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    // (file, the preview's size): a two-page G4 fax TIFF (its first page is the page), a CMYK
    // JPEG, a CMYK TIFF, a 16-bit grey TIFF, a scanned PDF and a grey PNG.
    let scans = [
        ("fax-g4-two-pages.tif", (1257, 1600)),
        ("contract-cmyk.jpg", (620, 877)),
        ("contract-cmyk.tif", (425, 550)),
        ("grey-16bit.tif", (600, 800)),
        ("scanned.pdf", (1131, 1600)),
    ];
    let mut pages: Vec<Vec<u8>> = scans.iter().map(|(file, _)| scan(file)).collect();
    pages.push(std::fs::read(fixture("pages/application-form.png")).unwrap());
    let filed = app
        .file(filing(header(ACCOUNT, "formats"), &pages, 64 * 1024))
        .await
        .unwrap();
    assert!(
        filed
            .pages
            .iter()
            .all(|page| page.rendition_state() == pb::RenditionState::Pending),
        "the filing answers before any rendition is made"
    );

    let document = settled(&app, &filed.name).await;
    let expected = scans.iter().map(|(_, size)| *size).chain([(240, 320)]);
    for (page, (width, height)) in document.pages.iter().zip(expected) {
        assert_eq!(
            page.rendition_state(),
            pb::RenditionState::Ready,
            "{}: {}",
            page.name,
            page.rendition_failure
        );
        for (rendition, long_side) in [
            (pb::Rendition::Preview, 1600),
            (pb::Rendition::Thumbnail, 256),
        ] {
            let (described, bytes) = read_rendition(&mut app.pages, &page.name, rendition)
                .await
                .unwrap();
            assert_eq!(described.media_type, "image/jpeg");
            assert_eq!(described.sha256, sha256_hex(&bytes));
            assert_eq!(described.size_bytes as usize, bytes.len());
            let shown = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                .expect("a rendition is a JPEG a browser decodes");
            let scale = (long_side as f64 / width.max(height) as f64).min(1.0);
            let fitted = |side: u32| (side as f64 * scale).round() as i64;
            let (w, h) = shown.dimensions();
            assert!(
                (i64::from(w) - fitted(width)).abs() <= 1
                    && (i64::from(h) - fitted(height)).abs() <= 1,
                "{} {rendition:?}: {w}x{h}, expected about {}x{}",
                page.name,
                fitted(width),
                fitted(height)
            );
        }
    }
    // The original is still what was filed.
    let (_, original) = app.read_page(&document.pages[0].name).await.unwrap();
    assert_eq!(original, pages[0]);
}

#[tokio::test]
async fn a_page_corrupt_behind_its_header_is_reported_failed_and_blocks_no_other() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let good = scan("contract-cmyk.tif");
    // A valid TIFF header and directory, its strips cut off: the intake's sniff accepts it.
    let mut corrupt = scan("grey-16bit.tif");
    corrupt.truncate(corrupt.len() / 2);
    let name = file_pages(
        &mut app,
        "corrupt",
        "application-form",
        &[corrupt.clone(), good],
    )
    .await;

    let document = settled(&app, &name).await;
    let (broken, fine) = (&document.pages[0], &document.pages[1]);
    assert_eq!(broken.rendition_state(), pb::RenditionState::Failed);
    assert!(
        broken.rendition_failure.contains("does not decode"),
        "{}",
        broken.rendition_failure
    );
    assert_eq!(fine.rendition_state(), pb::RenditionState::Ready);

    let refused = read_rendition(&mut app.pages, &broken.name, pb::Rendition::Preview)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("does not decode"),
        "{}",
        refused.message()
    );
    let (_, original) = app.read_page(&broken.name).await.unwrap();
    assert_eq!(original, corrupt, "the original can still be read");
}

#[tokio::test]
async fn renditions_queued_before_a_restart_are_made_after_it() {
    // A replica with no workers files; its queue outlives it.
    let mut first = spawn_app_with(TestConfig {
        rendition_workers: 0,
        ..TestConfig::default()
    })
    .await;
    first.create_customer(ACCOUNT).await;
    let name = file_pages(
        &mut first,
        "restart",
        "application-form",
        &[scan("scanned.pdf")],
    )
    .await;
    // And one page a worker claimed and then died on: its claim must run out, not stick.
    let second_page = file_pages(
        &mut first,
        "claimed",
        "notice",
        &[scan("contract-cmyk.jpg")],
    )
    .await;
    let claimed = first
        .database()
        .claim_rendition_job(Duration::from_secs(1))
        .await
        .unwrap()
        .expect("a job is queued");
    assert_eq!(claimed.attempts, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        document(&first, &name).await.pages[0].rendition_state(),
        pb::RenditionState::Pending
    );
    first.begin_stop();
    first.wait_stopped().await.unwrap();

    let second = spawn_app_with(TestConfig {
        shared_database: Some(first.database_url.clone()),
        shared_object_prefix: Some(first.object_prefix.clone()),
        ..TestConfig::default()
    })
    .await;
    for name in [&name, &second_page] {
        let document = settled(&second, name).await;
        assert_eq!(
            document.pages[0].rendition_state(),
            pb::RenditionState::Ready,
            "{}",
            document.pages[0].rendition_failure
        );
    }
}

#[tokio::test]
async fn a_destroyed_pages_renditions_are_gone_with_it() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let page = scan("fax-g4-two-pages.tif");
    let doomed = file_pages(&mut app, "doomed", "notice", std::slice::from_ref(&page)).await;
    settled(&app, &doomed).await;
    let hex = sha256_hex(&page);
    let keys = [
        format!("renditions/thumbnail/{}/{hex}.jpg", &hex[..2]),
        format!("renditions/preview/{}/{hex}.jpg", &hex[..2]),
    ];
    let stored = app.object_keys("renditions").await;
    assert!(keys.iter().all(|key| stored.contains(key)), "{stored:?}");

    app.clock.advance(TimeDelta::days(366 * 10));
    let list = app
        .clients_as(&custodian_named("alice"))
        .disposal
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "appraisal meeting 2036-03".into(),
            documents: vec![doomed.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    app.clients_as(&custodian_named("bob"))
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.name,
            note: "checked against the register".into(),
        })
        .await
        .unwrap();

    eventually(
        Duration::from_secs(10),
        "the renditions' deletion",
        || async { app.object_keys("renditions").await.is_empty() },
    )
    .await;
    let mut database =
        sqlx::PgConnection::connect(secrecy::ExposeSecret::expose_secret(&app.database_url))
            .await
            .unwrap();
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM page_renditions) + (SELECT count(*) FROM rendition_jobs)",
    )
    .fetch_one(&mut database)
    .await
    .unwrap();
    assert_eq!(rows, 0, "no rendition row outlives its content");
}

#[tokio::test]
async fn a_role_that_may_not_read_the_page_gets_no_rendition() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let name = file_pages(
        &mut app,
        "reach",
        "application-form",
        &[scan("contract-cmyk.jpg")],
    )
    .await;
    let document = settled(&app, &name).await;
    let page = &document.pages[0].name;
    assert!(
        read_rendition(&mut app.pages, page, pb::Rendition::Thumbnail)
            .await
            .is_ok()
    );

    // The auditor reads metadata but not pages; a clerk of another county does not reach them.
    let auditor = Token::new("archive-desk", "auditor", None);
    let stranger = Token::new("marketing", "counter-clerk", Some("1301"));
    for (token, code) in [
        (auditor, Code::PermissionDenied),
        (stranger, Code::NotFound),
    ] {
        for rendition in [pb::Rendition::Thumbnail, pb::Rendition::Preview] {
            let refused = read_rendition(&mut app.clients_as(&token).pages, page, rendition)
                .await
                .unwrap_err();
            assert_eq!(refused.code(), code, "{:?} {rendition:?}", token.role);
        }
    }
    let unknown = app
        .pages
        .read_page(pb::ReadPageRequest {
            name: page.clone(),
            rendition: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_backfill_queues_pages_stored_before_renditions_existed() {
    let mut app = spawn_app_with(TestConfig {
        rendition_workers: 0,
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;
    let name = file_pages(
        &mut app,
        "old",
        "application-form",
        &[scan("contract-cmyk.tif")],
    )
    .await;
    // As a content stored before the migration is: no state, no job.
    let mut database =
        sqlx::PgConnection::connect(secrecy::ExposeSecret::expose_secret(&app.database_url))
            .await
            .unwrap();
    for statement in [
        "DELETE FROM rendition_jobs",
        "UPDATE page_contents SET rendition_state = NULL",
    ] {
        sqlx::query(statement).execute(&mut database).await.unwrap();
    }
    let page = document(&app, &name).await.pages.remove(0);
    assert_eq!(page.rendition_state(), pb::RenditionState::Unspecified);
    let refused = read_rendition(&mut app.pages, &page.name, pb::Rendition::Thumbnail)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("backfill-renditions"),
        "{}",
        refused.message()
    );

    // What `custodian backfill-renditions` runs.
    assert_eq!(app.database().backfill_renditions(false).await.unwrap(), 1);
    assert_eq!(app.database().backfill_renditions(false).await.unwrap(), 0);
    assert_eq!(
        document(&app, &name).await.pages[0].rendition_state(),
        pb::RenditionState::Pending
    );
    let rendering = spawn_app_with(TestConfig {
        shared_database: Some(app.database_url.clone()),
        shared_object_prefix: Some(app.object_prefix.clone()),
        ..TestConfig::default()
    })
    .await;
    let document = settled(&rendering, &name).await;
    assert_eq!(
        document.pages[0].rendition_state(),
        pb::RenditionState::Ready
    );
}
