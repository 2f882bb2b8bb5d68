//! Scan quality at ingest (DA/T 31), against the real server: each page's header judged against
//! its type's scan rule at filing, blank pages flagged by the rendition worker, a refusing rule.
//! The report is in scan_quality_report.rs.

use std::time::Duration;

use custodian::proto::v1 as pb;
use image::codecs::jpeg::{JpegEncoder, PixelDensity, PixelDensityUnit};
use image::{ExtendedColorType, ImageEncoder};
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    TestApp, Token, correct, eventually, filing, fixture, header, part, retitle, spawn_app,
};

/// A scanned-looking JPEG page at `dpi`: lines of "words" on paper, or blank paper alone.
pub(crate) fn scan(dpi: u16, colour: bool, blank: bool) -> Vec<u8> {
    let (width, height) = (420u32, 594u32);
    let ink = |x: u32, y: u32| !blank && y % 24 < 8 && (x / 30) % 3 != 2 && x > 30 && x < 390;
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 85);
    encoder.set_pixel_density(PixelDensity {
        density: (dpi, dpi),
        unit: PixelDensityUnit::Inches,
    });
    if colour {
        let mut pixels = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                // A red seal in the corner, as a contract carries.
                let seal = !blank && (x as i32 - 330).pow(2) + (y as i32 - 500).pow(2) < 40 * 40;
                let rgb = match (ink(x, y), seal) {
                    (_, true) => [200, 20, 20],
                    (true, _) => [30, 30, 30],
                    _ => [250, 248, 240],
                };
                pixels.extend_from_slice(&rgb);
            }
        }
        encoder
            .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
            .unwrap();
    } else {
        let pixels: Vec<u8> = (0..width * height)
            .map(|i| if ink(i % width, i / width) { 30 } else { 245 })
            .collect();
        encoder
            .write_image(&pixels, width, height, ExtendedColorType::L8)
            .unwrap();
    }
    out
}

/// Files `pages` as a document of `document_type` into `account`.
pub(crate) async fn file(
    app: &mut TestApp,
    account: &str,
    document_type: &str,
    pages: &[Vec<u8>],
) -> Result<pb::Document, tonic::Status> {
    let header = pb::FilingHeader {
        document_type: document_type.into(),
        title: format!("{document_type} scan"),
        ..header(account, &uuid::Uuid::new_v4().to_string())
    };
    app.file(filing(header, pages, 64 * 1024)).await
}

pub(crate) fn check(page: &pb::Page) -> (pb::ScanCheckState, Vec<String>) {
    let check = page
        .scan_check
        .clone()
        .expect("every page has its scan check");
    (check.state(), check.reasons)
}

/// The document once its pages' renditions (and so the blank-page check) are done.
pub(crate) async fn checked(app: &TestApp, name: &str) -> pb::Document {
    let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    eventually(Duration::from_secs(30), "the blank-page check", || {
        let mut documents = app.documents.clone();
        let (name, found) = (name.to_owned(), found.clone());
        async move {
            let document = documents
                .get_document(pb::GetDocumentRequest {
                    name,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let done = document
                .pages
                .iter()
                .all(|p| p.scan_check.as_ref().is_some_and(|c| c.blank_checked));
            *found.lock().unwrap() = Some(document);
            done
        }
    })
    .await;
    found.lock().unwrap().take().unwrap()
}

#[tokio::test]
async fn a_96_dpi_page_is_flagged_and_a_good_300_dpi_colour_page_passes() {
    let mut app = spawn_app().await;
    app.create_customer("1201019601").await;
    let document = file(
        &mut app,
        "1201019601",
        "application-form",
        &[scan(96, true, false), scan(300, true, false)],
    )
    .await
    .expect("a warning never refuses a filing by default");
    assert_eq!(
        check(&document.pages[0]),
        (
            pb::ScanCheckState::Warnings,
            vec!["96 dpi, below the 200 dpi application-form needs".to_owned()]
        )
    );
    assert_eq!(
        check(&document.pages[1]),
        (pb::ScanCheckState::Passed, vec![])
    );

    // Recorded, and the good page is still good once the worker has looked at every pixel.
    let read = checked(&app, &document.name).await;
    assert_eq!(check(&read.pages[0]).0, pb::ScanCheckState::Warnings);
    assert_eq!(check(&read.pages[1]), (pb::ScanCheckState::Passed, vec![]));
}

#[tokio::test]
async fn a_grey_scan_of_a_contract_is_flagged_and_a_colour_one_is_not() {
    let mut app = spawn_app().await;
    app.create_customer("1201019602").await;
    let grey_tiff = std::fs::read(fixture("scans/grey-16bit.tif")).unwrap();
    let document = file(
        &mut app,
        "1201019602",
        "supply-contract",
        &[scan(300, false, false), grey_tiff, scan(300, true, false)],
    )
    .await
    .unwrap();
    let grey = "a grey scan, but supply-contract needs colour (its seals and red headers)";
    assert_eq!(
        check(&document.pages[0]),
        (pb::ScanCheckState::Warnings, vec![grey.to_owned()])
    );
    assert_eq!(
        check(&document.pages[1]),
        (pb::ScanCheckState::Warnings, vec![grey.to_owned()])
    );
    assert_eq!(
        check(&document.pages[2]),
        (pb::ScanCheckState::Passed, vec![])
    );
    // A grey scan is fine where no seal is carried.
    let notice = file(&mut app, "1201019602", "notice", &[scan(300, false, false)])
        .await
        .unwrap();
    assert_eq!(check(&notice.pages[0]).0, pb::ScanCheckState::Passed);
}

#[tokio::test]
async fn a_blank_page_is_flagged_once_the_rendition_worker_has_decoded_it() {
    let mut app = spawn_app().await;
    app.create_customer("1201019603").await;
    let document = file(
        &mut app,
        "1201019603",
        "application-form",
        &[scan(300, true, false), scan(300, true, true)],
    )
    .await
    .unwrap();
    let filed = document.pages[1].scan_check.clone().unwrap();
    assert!(!filed.blank_checked, "blankness needs the full decode");
    let read = checked(&app, &document.name).await;
    assert_eq!(check(&read.pages[0]), (pb::ScanCheckState::Passed, vec![]));
    assert_eq!(
        check(&read.pages[1]),
        (
            pb::ScanCheckState::Warnings,
            vec!["a blank page (near-uniform): rescan it or remove it".to_owned()]
        )
    );
}

#[tokio::test]
async fn a_refusing_rule_refuses_the_page_naming_it_and_files_nothing() {
    let mut app = spawn_app().await;
    app.create_customer("1201019604").await;
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    sqlx::query("UPDATE scan_rules SET refuse_on_warning = true WHERE document_type = 'notice'")
        .execute(&mut db)
        .await
        .unwrap();
    let refused = file(
        &mut app,
        "1201019604",
        "notice",
        &[scan(300, true, false), scan(96, true, false)],
    )
    .await
    .expect_err("the rule refuses pages with warnings");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .starts_with("page 2 was refused: 96 dpi, below the 200 dpi notice needs"),
        "{}",
        refused.message()
    );
    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: "customers/1201019604".into(),
            ..Default::default()
        })
        .await;
    assert!(listed.is_empty(), "nothing is half-written: {listed:?}");
    let (rows,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM documents WHERE account_number = '1201019604'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(rows, 0);
    // Good pages still file under the refusing rule; other types still only warn.
    file(&mut app, "1201019604", "notice", &[scan(300, true, false)])
        .await
        .expect("a page without warnings is filed");
    file(
        &mut app,
        "1201019604",
        "application-form",
        &[scan(96, true, false)],
    )
    .await
    .expect("application forms keep the warning-only rule");
}

#[tokio::test]
async fn a_corrections_new_pages_are_judged_and_its_kept_pages_keep_their_check() {
    use custodian::proto::v1::correct_document_request::Part;
    let mut app = spawn_app().await;
    app.create_customer("1201019605").await;
    let document = file(
        &mut app,
        "1201019605",
        "supply-contract",
        &[scan(300, true, false)],
    )
    .await
    .unwrap();
    let mut messages = vec![
        part(Part::KeepPage(pb::KeepPage { page_number: 1 })),
        part(Part::PageStart(pb::PageStart::default())),
    ];
    messages.push(part(Part::Chunk(scan(300, false, false).into())));
    let mut clients = app.clients_as(&Token::custodian());
    let corrected = correct(
        &mut clients,
        retitle(&document.name, 1, "供用电合同（补页）"),
        messages,
    )
    .await
    .unwrap();
    assert_eq!(corrected.pages.len(), 2);
    assert_eq!(
        check(&corrected.pages[0]),
        (pb::ScanCheckState::Passed, vec![])
    );
    assert_eq!(
        check(&corrected.pages[1]),
        (
            pb::ScanCheckState::Warnings,
            vec![
                "a grey scan, but supply-contract needs colour (its seals and red headers)"
                    .to_owned()
            ]
        )
    );
}
