//! The views a screen reads documents in (AIP-157) and the batch get (AIP-231).

use std::time::Duration;

use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{
    Token, correct, customer, eventually, filing, header, jpeg_page, part, png_page, spawn_app,
};

const ACCOUNT: &str = "1201000099";
const ELSEWHERE: &str = "1301000099";

#[tokio::test]
async fn the_basic_view_has_no_pages_but_their_count_and_size() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let pages = [jpeg_page(3_000, 1), png_page(500, 2)];
    let filed = app
        .file(filing(header(ACCOUNT, "viewed"), &pages, 1024))
        .await
        .unwrap();
    assert_eq!((filed.page_count, filed.size_bytes), (2, 3_500));

    let list = |view: pb::DocumentView| pb::ListDocumentsRequest {
        parent: format!("customers/{ACCOUNT}"),
        view: view.into(),
        ..Default::default()
    };
    let basic = app
        .documents
        .list_documents(list(pb::DocumentView::Basic))
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(basic.len(), 1);
    assert!(basic[0].pages.is_empty());
    assert_eq!((basic[0].page_count, basic[0].size_bytes), (2, 3_500));
    assert_eq!(basic[0].title, filed.title);
    for view in [pb::DocumentView::Unspecified, pb::DocumentView::Full] {
        let full = app
            .documents
            .list_documents(list(view))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(full.documents[0].pages.len(), 2, "{view:?}");
    }

    // A correction that adds a page: the count follows the version.
    let added = jpeg_page(1_000, 3);
    let mut custodian = app.clients_as(&Token::custodian());
    correct(
        &mut custodian,
        pb::CorrectionHeader {
            name: filed.name.clone(),
            expected_version: 1,
            reason: "补扫第3页".into(),
            document: None,
            update_mask: None,
        },
        vec![
            part(pb::correct_document_request::Part::KeepPage(pb::KeepPage {
                page_number: 1,
            })),
            part(pb::correct_document_request::Part::KeepPage(pb::KeepPage {
                page_number: 2,
            })),
            part(pb::correct_document_request::Part::PageStart(
                pb::PageStart::default(),
            )),
            part(pb::correct_document_request::Part::Chunk(
                added.clone().into(),
            )),
        ],
    )
    .await
    .unwrap();
    let get = |version: i32| pb::GetDocumentRequest {
        name: filed.name.clone(),
        version,
        view: pb::DocumentView::Basic.into(),
    };
    let current = app
        .documents
        .get_document(get(0))
        .await
        .unwrap()
        .into_inner();
    assert!(current.pages.is_empty());
    assert_eq!(
        (current.version, current.page_count, current.size_bytes),
        (2, 3, 4_500)
    );
    let first = app
        .documents
        .get_document(get(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.page_count, first.size_bytes), (2, 3_500));

    let status = app
        .documents
        .list_documents(pb::ListDocumentsRequest {
            view: 7,
            ..list(pb::DocumentView::Basic)
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("view"), "{}", status.message());
}

#[tokio::test]
async fn a_batch_get_reads_each_document_as_get_document_would_and_fails_whole() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut other_province = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    other_province
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer(ELSEWHERE, "130101")),
        })
        .await
        .unwrap();
    let mut names = Vec::new();
    for request in ["a", "b"] {
        let filed = app
            .file(filing(header(ACCOUNT, request), &[jpeg_page(200, 9)], 200))
            .await
            .unwrap();
        names.push(filed.name);
    }
    let elsewhere = other_province
        .documents
        .file_document(futures::stream::iter(filing(
            header(ELSEWHERE, "c"),
            &[jpeg_page(200, 9)],
            200,
        )))
        .await
        .unwrap()
        .into_inner();
    names.push(elsewhere.name);
    // Internal audit reaches every account: the documents come in the order asked.
    let mut auditor = app.clients_as(&Token::new("archive-desk", "auditor", None));
    let order = vec![names[2].clone(), names[0].clone(), names[1].clone()];
    let got = auditor
        .documents
        .batch_get_documents(pb::BatchGetDocumentsRequest {
            names: order.clone(),
            view: pb::DocumentView::Basic.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(
        got.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        order
    );
    assert!(got.iter().all(|d| d.pages.is_empty() && d.page_count == 1));

    // A county custodian of 1201 does not reach the 1301 account: the whole batch fails.
    let mut county = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("1201"),
    ));
    let status = county
        .documents
        .batch_get_documents(pb::BatchGetDocumentsRequest {
            names: names.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains(&names[2]), "{}", status.message());
    let mine = county
        .documents
        .batch_get_documents(pb::BatchGetDocumentsRequest {
            names: names[..2].to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].pages.len(), 1, "the full view by default");

    for (names, needle) in [
        (vec![], "names"),
        (vec![names[0].clone(); 101], "names"),
        (vec![names[0].clone(), "customers/x".into()], "names[1]"),
    ] {
        let status = app
            .documents
            .batch_get_documents(pb::BatchGetDocumentsRequest {
                names,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(needle), "{}", status.message());
    }

    // Each document read is recorded as a GetDocument of its own account.
    let auditor = app.clients_as(&Token::new("archive-desk", "auditor", None));
    eventually(
        Duration::from_secs(5),
        "the batch's reads to be recorded",
        || {
            let mut auditor = auditor.clone();
            async move {
                let events = auditor
                    .audit
                    .list_audit_events(pb::ListAuditEventsRequest {
                        account_number: ELSEWHERE.into(),
                        action: "GetDocument".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                events.iter().any(|e| e.outcome == "ok")
                    && events.iter().any(|e| e.outcome == "not_found")
            }
        },
    )
    .await;
}
