//! Rendition limits: a page larger than `renditions.max_page_bytes`, or an image whose header
//! claims more than `renditions.max_pixels`, gets no renditions and ends SKIPPED with the
//! limit named, without being read or decoded; the worker goes on with the other pages.

use custodian::proto::v1 as pb;
use sqlx::Connection as _;
use tonic::Code;

use crate::allocations;
use crate::helpers::{TestApp, TestConfig, spawn_app_with};
use crate::renditions::{ACCOUNT, file_pages, read_rendition, scan, settled};

/// A PNG whose IHDR says 100000 × 100000 8-bit grey (10 GB decoded) and whose one IDAT is a
/// few bytes: the intake accepts it, only its header can say what decoding it would take.
fn png_claiming_100000_by_100000() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for byte in kind.iter().chain(data) {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        out.extend_from_slice(&(!crc).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    // Bit depth 8, colour type 0 (grey), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream of one empty stored block: far fewer bytes than the header promises.
    chunk(
        &mut png,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,
        ],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

async fn spawn_limited(max_page_bytes: u64) -> TestApp {
    let mut app = spawn_app_with(TestConfig {
        // One worker: the jobs are taken one after another, so the last shows it carried on.
        rendition_workers: 1,
        rendition_max_page_bytes: max_page_bytes,
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;
    app
}

/// Jobs left in the queue: a skipped page leaves none (it is not retried).
async fn queued_jobs(app: &TestApp) -> i64 {
    let mut database =
        sqlx::PgConnection::connect(secrecy::ExposeSecret::expose_secret(&app.database_url))
            .await
            .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM rendition_jobs")
        .fetch_one(&mut database)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_page_over_max_page_bytes_is_skipped_with_the_reason_and_the_others_are_rendered() {
    // 100 kB: the CMYK JPEG (165,527 bytes) is over it, the fax and the CMYK TIFF are not.
    let mut app = spawn_limited(100_000).await;
    let large = scan("contract-cmyk.jpg");
    let pages = [
        scan("fax-g4-two-pages.tif"),
        large.clone(),
        scan("contract-cmyk.tif"),
    ];
    let name = file_pages(&mut app, "too-many-bytes", "application-form", &pages).await;

    let document = settled(&app, &name).await;
    let skipped = &document.pages[1];
    assert_eq!(
        skipped.rendition_state(),
        pb::RenditionState::Skipped,
        "{}",
        skipped.rendition_failure
    );
    assert_eq!(
        skipped.rendition_failure,
        format!(
            "page of {} bytes is larger than renditions.max_page_bytes (100000)",
            large.len()
        )
    );
    for page in [&document.pages[0], &document.pages[2]] {
        assert_eq!(
            page.rendition_state(),
            pb::RenditionState::Ready,
            "{}: {}",
            page.name,
            page.rendition_failure
        );
    }
    assert_eq!(queued_jobs(&app).await, 0, "a skipped page is not retried");

    // Its rendition is refused with the reason; its original reads as filed.
    let refused = read_rendition(&mut app.pages, &skipped.name, pb::Rendition::Preview)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("renditions.max_page_bytes"),
        "{}",
        refused.message()
    );
    let (_, original) = app.read_page(&skipped.name).await.unwrap();
    assert_eq!(original, large);

    // A batch of what `custodian backfill-renditions --retry-failed` runs queues it again (for
    // after a limit is raised); under the same limit it ends skipped again. (One batch: the
    // worker may skip it again before a second batch would look.)
    assert_eq!(app.database().queue_unrendered(true, 100).await.unwrap(), 1);
    let again = settled(&app, &name).await.pages.remove(1);
    assert_eq!(again.rendition_state(), pb::RenditionState::Skipped);
}

#[tokio::test]
async fn a_png_whose_header_claims_huge_dimensions_is_skipped_undecoded_and_the_worker_goes_on() {
    let mut app = spawn_limited(32 * 1024 * 1024).await;
    let huge = png_claiming_100000_by_100000();
    let claimed = file_pages(&mut app, "huge-header", "application-form", &[huge]).await;
    // Filed after it, so the one worker takes it after the huge one.
    let next = file_pages(
        &mut app,
        "after-huge",
        "notice",
        &[scan("contract-cmyk.tif")],
    )
    .await;

    let page = settled(&app, &claimed).await.pages.remove(0);
    assert_eq!(
        page.rendition_state(),
        pb::RenditionState::Skipped,
        "{}",
        page.rendition_failure
    );
    assert_eq!(
        page.rendition_failure,
        "image of 100000 × 100000 pixels is larger than renditions.max_pixels (100000000)"
    );
    let after = settled(&app, &next).await.pages.remove(0);
    assert_eq!(
        after.rendition_state(),
        pb::RenditionState::Ready,
        "{}",
        after.rendition_failure
    );
    assert_eq!(queued_jobs(&app).await, 0, "a skipped page is not retried");
    // 10 GB were never asked for: no allocation in this process came near it.
    let largest = allocations::largest();
    assert!(
        largest < 1 << 30,
        "an allocation of {largest} bytes was requested"
    );
}
