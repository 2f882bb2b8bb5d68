//! Filing memory is bounded across all filings: pages buffered by every filing in flight share
//! `limits.filing_buffer_bytes`, and a page that finds it spent waits, then is refused with
//! RESOURCE_EXHAUSTED — while a filing that fits goes through once room is back.

use std::time::Duration;

use bytes::Bytes;
use custodian::proto::v1::file_document_request::Part;
use tonic::Code;

use crate::helpers::{
    TestConfig, eventually, filing, header, jpeg_page, message, open_filing, spawn_app_with,
};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_page_beyond_the_shared_filing_buffer_is_refused_until_room_comes_back() {
    let mut config = TestConfig::default();
    config.limits.filing_idle_timeout_secs = 1;
    config.limits.filing_buffer_bytes = 8 * MIB as u64;
    let mut app = spawn_app_with(config).await;
    app.create_customer("1200000001").await;

    // The first filing holds 6 MiB of the 8 and keeps its stream alive with a byte now and then.
    let (holding, held) = open_filing(app.documents.clone(), "1200000001", "holding").await;
    let big = jpeg_page(5 * MIB + MIB / 2, 1);
    for chunk in big.chunks(MIB) {
        holding
            .send(message(Part::Chunk(Bytes::copy_from_slice(chunk))))
            .await
            .expect("the holding filing takes its bytes");
    }
    let keep_alive = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if holding
                .send(message(Part::Chunk(Bytes::from_static(b"x"))))
                .await
                .is_err()
            {
                break;
            }
        }
    });

    // A second filing of 3 MiB finds 2 left: it waits its idle timeout, then is refused.
    let (second, refused) = open_filing(app.documents.clone(), "1200000001", "second").await;
    let page = jpeg_page(3 * MIB, 2);
    for chunk in page.chunks(MIB) {
        if second
            .send(message(Part::Chunk(Bytes::copy_from_slice(chunk))))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(second);
    let status = tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the second filing ends by itself")
        .expect("the call task finishes")
        .expect_err("no room for the second filing's page");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("memory"), "{}", status.message());

    // Once the first filing is gone, the same page files.
    keep_alive.abort();
    drop(held);
    eventually(Duration::from_secs(10), "room for a 3 MiB page", || {
        let page = page.clone();
        let mut documents = app.documents.clone();
        async move {
            let messages = filing(header("1200000001", "third"), &[page], MIB);
            documents
                .file_document(futures::stream::iter(messages))
                .await
                .is_ok()
        }
    })
    .await;
}
