//! Every bad filing is refused with the right status, and none leaves a document behind.

use bytes::Bytes;
use custodian::proto::v1 as pb;
use custodian::proto::v1::file_document_request::Part;
use custodian::settings::LimitSettings;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, filing, header, jpeg_page, message, spawn_app, spawn_app_with,
};

const ACCOUNT: &str = "1200000001";

async fn assert_archive_empty(app: &mut TestApp) {
    let listed = app
        .list_all(pb::ListDocumentsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await;
    assert!(listed.is_empty(), "nothing was filed: {listed:?}");
}

async fn assert_refused(
    app: &mut TestApp,
    messages: Vec<pb::FileDocumentRequest>,
    code: Code,
    mentions: &str,
) {
    let status = app.file(messages).await.unwrap_err();
    assert_eq!(status.code(), code, "{mentions}: {}", status.message());
    assert!(
        status.message().contains(mentions),
        "{:?} does not mention {mentions:?}",
        status.message()
    );
    assert_archive_empty(app).await;
}

#[tokio::test]
async fn malformed_headers_are_invalid_arguments_naming_the_field() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let page = [jpeg_page(1000, 1)];
    let base = || header(ACCOUNT, "r1");
    let cases = [
        (
            pb::FilingHeader {
                parent: "customers/12ab".into(),
                ..base()
            },
            "header.parent",
        ),
        (
            pb::FilingHeader {
                parent: ACCOUNT.into(),
                ..base()
            },
            "header.parent",
        ),
        (
            pb::FilingHeader {
                document_type: "".into(),
                ..base()
            },
            "header.document_type",
        ),
        (
            pb::FilingHeader {
                document_type: "Not A Code".into(),
                ..base()
            },
            "header.document_type",
        ),
        (
            pb::FilingHeader {
                business_process: 0,
                ..base()
            },
            "header.business_process",
        ),
        (
            pb::FilingHeader {
                business_process: 99,
                ..base()
            },
            "header.business_process",
        ),
        (
            pb::FilingHeader {
                work_order_number: "WO 1".into(),
                ..base()
            },
            "header.work_order_number",
        ),
        (
            pb::FilingHeader {
                title: "".into(),
                ..base()
            },
            "header.title",
        ),
        (
            pb::FilingHeader {
                source_system: "Not Valid".into(),
                ..base()
            },
            "header.source_system",
        ),
        (
            pb::FilingHeader {
                client_request_id: "".into(),
                ..base()
            },
            "header.client_request_id",
        ),
    ];
    for (header, field) in cases {
        assert_refused(
            &mut app,
            filing(header, &page, 1000),
            Code::InvalidArgument,
            field,
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_account_or_document_type_is_not_found() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let page = [jpeg_page(1000, 1)];
    let status = app
        .file(filing(header("1299999999", "r1"), &page, 1000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("customers/1299999999"));

    let unknown_type = pb::FilingHeader {
        document_type: "marriage-certificate".into(),
        ..header(ACCOUNT, "r2")
    };
    assert_refused(
        &mut app,
        filing(unknown_type, &page, 1000),
        Code::NotFound,
        "marriage-certificate",
    )
    .await;
}

#[tokio::test]
async fn a_closed_account_takes_no_new_documents() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    app.customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{ACCOUNT}"),
                status: pb::CustomerStatus::Closed.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await
        .unwrap();
    let page = [jpeg_page(1000, 1)];
    assert_refused(
        &mut app,
        filing(header(ACCOUNT, "r"), &page, 1000),
        Code::FailedPrecondition,
        "closed",
    )
    .await;
}

#[tokio::test]
async fn a_stream_must_start_with_one_header_and_carry_pages() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let page = Bytes::from(jpeg_page(1000, 1));
    let start = || message(Part::PageStart(pb::PageStart::default()));
    let chunk = || message(Part::Chunk(page.clone()));
    let head = || message(Part::Header(header(ACCOUNT, "r1")));

    assert_refused(&mut app, vec![], Code::InvalidArgument, "empty").await;
    assert_refused(
        &mut app,
        vec![start(), chunk()],
        Code::InvalidArgument,
        "first message",
    )
    .await;
    assert_refused(&mut app, vec![head()], Code::InvalidArgument, "no pages").await;
    assert_refused(
        &mut app,
        vec![head(), chunk()],
        Code::InvalidArgument,
        "before the first page_start",
    )
    .await;
    assert_refused(
        &mut app,
        vec![head(), start(), chunk(), head()],
        Code::InvalidArgument,
        "exactly one header",
    )
    .await;
    assert_refused(
        &mut app,
        vec![head(), start()],
        Code::InvalidArgument,
        "page 1 is empty",
    )
    .await;
    assert_refused(
        &mut app,
        vec![head(), start(), chunk(), start()],
        Code::InvalidArgument,
        "page 2 is empty",
    )
    .await;
    assert_refused(
        &mut app,
        vec![
            head(),
            start(),
            chunk(),
            pb::FileDocumentRequest { part: None },
        ],
        Code::InvalidArgument,
        "every message",
    )
    .await;
}

#[tokio::test]
async fn pages_that_are_not_images_or_pdfs_are_refused_by_content() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let text = b"this is a plain text file, not a scan".to_vec();
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let tiny = b"\xFF\xD8".to_vec();
    for (bad, chunk_size) in [(text, 3), (gif, 100), (tiny, 1)] {
        let pages = [jpeg_page(1000, 1), bad];
        assert_refused(
            &mut app,
            filing(header(ACCOUNT, "r1"), &pages, chunk_size),
            Code::InvalidArgument,
            "page 2 is not a JPEG, PNG, TIFF or PDF",
        )
        .await;
    }
}

#[tokio::test]
async fn a_page_whose_checksum_differs_from_the_declared_one_is_refused() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let declared = |sha256: &str| {
        vec![
            message(Part::Header(header(ACCOUNT, "r1"))),
            message(Part::PageStart(pb::PageStart {
                sha256: sha256.into(),
            })),
            message(Part::Chunk(Bytes::from(jpeg_page(5000, 1)))),
        ]
    };
    assert_refused(
        &mut app,
        declared(&"0".repeat(64)),
        Code::InvalidArgument,
        "page_start.sha256",
    )
    .await;
    assert_refused(
        &mut app,
        declared("abc"),
        Code::InvalidArgument,
        "page_start.sha256",
    )
    .await;
}

#[tokio::test]
async fn oversized_pages_documents_and_page_counts_are_resource_exhausted() {
    let mut app = spawn_app_with(TestConfig {
        limits: LimitSettings {
            max_page_bytes: 100_000,
            max_document_bytes: 250_000,
            max_pages_per_document: 3,
            filing_idle_timeout_secs: 60,
            ..TestConfig::default().limits
        },
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;

    let too_big_page = [jpeg_page(100_001, 1)];
    assert_refused(
        &mut app,
        filing(header(ACCOUNT, "r1"), &too_big_page, 10_000),
        Code::ResourceExhausted,
        "100000 bytes per page",
    )
    .await;

    let too_big_document = [
        jpeg_page(90_000, 1),
        jpeg_page(90_000, 2),
        jpeg_page(90_000, 3),
    ];
    assert_refused(
        &mut app,
        filing(header(ACCOUNT, "r2"), &too_big_document, 10_000),
        Code::ResourceExhausted,
        "250000 bytes",
    )
    .await;

    let too_many_pages: Vec<Vec<u8>> = (0..4).map(|seed| jpeg_page(100, seed)).collect();
    assert_refused(
        &mut app,
        filing(header(ACCOUNT, "r3"), &too_many_pages, 10_000),
        Code::ResourceExhausted,
        "at most 3 pages",
    )
    .await;

    // At the limits exactly, the filing goes through.
    let at_limits = [
        jpeg_page(100_000, 1),
        jpeg_page(100_000, 2),
        jpeg_page(50_000, 3),
    ];
    app.file(filing(header(ACCOUNT, "r4"), &at_limits, 10_000))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_filing_whose_caller_goes_silent_is_abandoned_after_the_idle_timeout() {
    let mut app = spawn_app_with(TestConfig {
        limits: LimitSettings {
            filing_idle_timeout_secs: 1,
            ..TestConfig::default().limits
        },
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender
        .send(message(Part::Header(header(ACCOUNT, "silent"))))
        .await
        .unwrap();
    sender
        .send(message(Part::PageStart(pb::PageStart::default())))
        .await
        .unwrap();
    sender
        .send(message(Part::Chunk(Bytes::from(jpeg_page(1000, 1)))))
        .await
        .unwrap();

    // The sender stays open but sends nothing more.
    let call = app
        .documents
        .file_document(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .expect("the server gives up on its own")
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::DeadlineExceeded,
        "{}",
        status.message()
    );
    drop(sender);
    assert_archive_empty(&mut app).await;
}
