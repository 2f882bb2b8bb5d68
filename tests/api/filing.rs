//! Filing documents: round trips, content addressing, idempotent retries, cut-off streams.

use std::time::Duration;

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use custodian::storage::{PART_SIZE, PayloadSigning};
use tonic::Code;

use crate::helpers::{
    Clients, TestConfig, Token, eventually, filing, header, ignoring_renditions, jpeg_page,
    message, open_filing, page_ignoring_renditions, pdf_page, png_page, sha256_hex, spawn_app,
    spawn_app_with,
};

fn other_title() -> pb::FilingHeader {
    pb::FilingHeader {
        title: "a different paper".into(),
        ..header("1200000001", "once")
    }
}

const MIB: usize = 1024 * 1024;

/// The longest a test waits for a condition that normally holds within milliseconds.
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_multi_page_document_is_filed_and_read_back_byte_for_byte() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let pages = vec![
        jpeg_page(100_000, 1),
        // Larger than one response chunk (1 MiB).
        png_page(2 * MIB + 17, 2),
        // Larger than the multipart threshold, so it travels through a staging object.
        pdf_page(PART_SIZE + MIB + 3, 3),
    ];
    let mut messages = filing(header("1200000001", "req-1"), &pages[..1], 7_000);
    messages.extend(filing(header("", ""), &pages[1..], MIB).into_iter().skip(1));

    let document = app.file(messages).await.unwrap();

    assert_eq!(document.account_number, "1200000001");
    assert!(document.name.starts_with("customers/1200000001/documents/"));
    assert_eq!(document.version, 1);
    assert_eq!(document.document_type, "application-form");
    assert_eq!(
        document.business_process(),
        pb::BusinessProcess::NewConnection
    );
    assert_eq!(document.work_order_number, "WO-1");
    assert_eq!(
        document.source_system, "archive-desk",
        "the caller's system"
    );
    assert_eq!(document.client_request_id, "req-1");
    let total: usize = pages.iter().map(Vec::len).sum();
    assert_eq!(document.size_bytes, total as i64);
    let media_types: Vec<&str> = document
        .pages
        .iter()
        .map(|p| p.media_type.as_str())
        .collect();
    assert_eq!(media_types, ["image/jpeg", "image/png", "application/pdf"]);

    let fetched = app
        .documents
        .get_document(pb::GetDocumentRequest {
            name: document.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ignoring_renditions(fetched),
        ignoring_renditions(document.clone())
    );

    for (page, bytes) in document.pages.iter().zip(&pages) {
        assert_eq!(page.size_bytes, bytes.len() as i64);
        assert_eq!(page.sha256, sha256_hex(bytes));
        let (read_meta, read_bytes) = app.read_page(&page.name).await.unwrap();
        assert_eq!(
            page_ignoring_renditions(read_meta),
            page_ignoring_renditions(page.clone())
        );
        assert!(read_bytes == *bytes, "page {} differs", page.page_number);
    }
    assert_eq!(app.object_keys("pages").await.len(), 3);
    assert!(
        app.object_keys("staging").await.is_empty(),
        "staging objects are removed"
    );
}

#[tokio::test]
async fn identical_pages_are_stored_once() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let shared = jpeg_page(50_000, 7);
    let other = jpeg_page(50_000, 8);
    let first = app
        .file(filing(
            header("1200000001", "a"),
            std::slice::from_ref(&shared),
            4096,
        ))
        .await
        .unwrap();
    let second = app
        .file(filing(
            header("1200000001", "b"),
            &[other, shared.clone(), shared.clone()],
            4096,
        ))
        .await
        .unwrap();

    assert_ne!(first.document_id, second.document_id);
    assert_eq!(second.pages[1].sha256, first.pages[0].sha256);
    assert_eq!(app.object_keys("pages").await.len(), 2);
    let (_, bytes) = app.read_page(&second.pages[2].name).await.unwrap();
    assert!(bytes == shared);
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_document() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let pages = [jpeg_page(10_000, 1)];
    let first = app
        .file(filing(header("1200000001", "retry-me"), &pages, 1000))
        .await
        .unwrap();
    let retry = app
        .file(filing(header("1200000001", "retry-me"), &pages, 1000))
        .await
        .unwrap();
    // The rendition worker may have finished the page between the two replies.
    assert_eq!(
        ignoring_renditions(retry),
        ignoring_renditions(first.clone())
    );

    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: "customers/1200000001".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(listed.len(), 1, "a retry files no second document");
}

#[tokio::test]
async fn concurrent_retries_file_one_document() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let pages = [jpeg_page(300_000, 1), png_page(200_000, 2)];
    let calls = (0..4).map(|_| {
        let mut client = app.documents.clone();
        let messages = filing(header("1200000001", "racing"), &pages, 64 * 1024);
        async move {
            client
                .file_document(futures::stream::iter(messages))
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let results = futures::future::join_all(calls).await;
    let ids: Vec<String> = results
        .into_iter()
        .map(|result| result.unwrap().document_id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: "customers/1200000001".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_request_id_reused_for_another_document_is_already_exists() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let pages = [jpeg_page(1_000, 1)];
    app.file(filing(header("1200000001", "once"), &pages, 1000))
        .await
        .unwrap();
    let other = pb::FilingHeader {
        title: "a different paper".into(),
        ..header("1200000001", "once")
    };
    let status = app.file(filing(other, &pages, 1000)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("once"), "{}", status.message());

    // Another system has its own request ids.
    let mut marketing = app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));
    let elsewhere = marketing
        .documents
        .file_document(futures::stream::iter(filing(other_title(), &pages, 1000)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(elsewhere.source_system, "marketing");
}

#[tokio::test]
async fn a_declared_checksum_that_matches_is_accepted() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let page = jpeg_page(20_000, 5);
    let messages = vec![
        message(Part::Header(header("1200000001", "checked"))),
        message(Part::PageStart(pb::PageStart {
            sha256: sha256_hex(&page).to_uppercase(),
        })),
        message(Part::Chunk(Bytes::from(page.clone()))),
    ];
    let document = app.file(messages).await.unwrap();
    assert_eq!(document.pages[0].sha256, sha256_hex(&page));
}

#[tokio::test]
async fn a_stream_cut_off_mid_page_files_nothing() {
    // One call in flight at most: a call admitted after the cut shows the server let go of it.
    let mut app = spawn_app_with(TestConfig {
        max_concurrent_requests: 1,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;
    // The caller has a connection of its own, which goes with it as a crashing client's would.
    let connection = tonic::transport::Channel::from_shared(format!("http://{}", app.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = Clients::new(&connection, Some(&Token::custodian().mint())).documents;
    let (sender, call) = open_filing(client, "1200000001", "cut").await;
    // More than one multipart part, so an upload is under way when the caller vanishes.
    let page = jpeg_page(PART_SIZE + MIB, 9);
    for chunk in page.chunks(MIB) {
        sender
            .send(message(Part::Chunk(Bytes::copy_from_slice(chunk))))
            .await
            .unwrap();
    }
    // Let the server take in what was sent (it has begun the page's multipart upload), then
    // vanish: the call and its connection go.
    eventually(WAIT, "the page's multipart upload to begin", || async {
        app.uploads_under_way().await > 0
    })
    .await;
    call.abort();
    let _ = call.await;
    drop(sender);
    // Only once the server is done with the cut-off call does the listing below show what it
    // left: its place among the calls in flight is free again.
    eventually(WAIT, "the server to let go of the cut-off call", || {
        let mut catalog = app.document_types.clone();
        async move {
            match catalog
                .list_document_types(pb::ListDocumentTypesRequest {})
                .await
            {
                Ok(_) => true,
                Err(status) if status.code() == Code::ResourceExhausted => false,
                Err(status) => panic!("the catalog is read: {status:?}"),
            }
        }
    })
    .await;

    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: "customers/1200000001".into(),
            ..Default::default()
        })
        .await;
    assert!(
        listed.is_empty(),
        "a cut-off filing leaves no document: {listed:?}"
    );

    // The request id was not used up: the complete filing goes through.
    let document = app
        .file(filing(header("1200000001", "cut"), &[page], MIB))
        .await
        .unwrap();
    assert_eq!(document.pages.len(), 1);
}

/// A filing of one page in 1 MiB chunks whose `page_start` declares `sha256`.
fn declared_filing(request_id: &str, page: &[u8], sha256: String) -> Vec<pb::FileDocumentRequest> {
    let mut messages = vec![
        message(Part::Header(header("1200000001", request_id))),
        message(Part::PageStart(pb::PageStart { sha256 })),
    ];
    for chunk in page.chunks(MIB) {
        messages.push(message(Part::Chunk(Bytes::copy_from_slice(chunk))));
    }
    messages
}

#[tokio::test]
async fn a_large_page_with_its_declared_checksum_is_filed_twice_and_stored_once() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    // Past the multipart threshold: with its digest declared it goes straight to its key.
    let page = pdf_page(PART_SIZE + MIB + 5, 11);

    let first = app
        .file(declared_filing("large-1", &page, sha256_hex(&page)))
        .await
        .unwrap();
    // The second filing finds the content stored and only checks the bytes.
    let second = app
        .file(declared_filing("large-2", &page, sha256_hex(&page)))
        .await
        .unwrap();

    assert_ne!(first.document_id, second.document_id);
    for document in [&first, &second] {
        assert_eq!(document.pages[0].sha256, sha256_hex(&page));
        let (_, bytes) = app.read_page(&document.pages[0].name).await.unwrap();
        assert!(bytes == page, "{} reads back other bytes", document.name);
    }
    assert_eq!(app.object_keys("pages").await.len(), 1);
    assert!(app.object_keys("staging").await.is_empty());
}

#[tokio::test]
async fn a_large_page_that_differs_from_its_declared_checksum_stores_nothing() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let page = pdf_page(PART_SIZE + MIB + 5, 12);
    let claimed = pdf_page(PART_SIZE + MIB + 5, 13);

    let refused = app
        .file(declared_filing("wrong", &page, sha256_hex(&claimed)))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("page_start declared"),
        "{refused:?}"
    );
    // Nothing under the claimed content's key, nor anywhere else.
    assert!(app.object_keys("pages").await.is_empty());
    assert!(app.object_keys("staging").await.is_empty());
}

#[tokio::test]
async fn wrong_bytes_declared_as_a_stored_large_page_are_refused_and_the_page_is_intact() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let page = pdf_page(PART_SIZE + MIB + 5, 14);
    let stored = app
        .file(declared_filing("real", &page, sha256_hex(&page)))
        .await
        .unwrap();

    let impostor = pdf_page(PART_SIZE + MIB + 5, 15);
    let refused = app
        .file(declared_filing("impostor", &impostor, sha256_hex(&page)))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::InvalidArgument);
    let (_, bytes) = app.read_page(&stored.pages[0].name).await.unwrap();
    assert!(bytes == page, "the stored page was changed");
}

#[tokio::test]
async fn pages_uploaded_with_unsigned_payloads_read_back_byte_for_byte() {
    // What a server on an HTTPS endpoint does by default, tried here against the real store.
    let mut app = spawn_app_with(TestConfig {
        payload_signing: PayloadSigning::Unsigned,
        ..TestConfig::default()
    })
    .await;
    app.create_customer("1200000001").await;
    let small = jpeg_page(100_000, 16);
    let large = pdf_page(PART_SIZE + MIB + 5, 17);
    let mut messages = declared_filing("unsigned", &large, sha256_hex(&large));
    messages.extend(
        filing(header("", ""), std::slice::from_ref(&small), MIB)
            .into_iter()
            .skip(1),
    );

    let document = app.file(messages).await.unwrap();

    for (page, bytes) in document.pages.iter().zip([&large, &small]) {
        let (_, read) = app.read_page(&page.name).await.unwrap();
        assert!(read == *bytes, "page {} differs", page.page_number);
    }
}
