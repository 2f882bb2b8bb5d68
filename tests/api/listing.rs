//! Listing an archive: every filter, stable newest-first order, paging through a long list.

use std::collections::HashSet;

use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{filing, header, ignoring_renditions, jpeg_page, spawn_app};

const ACCOUNT: &str = "1200000001";

/// Files 30 small documents spread over types, processes and work orders.
async fn file_thirty(app: &mut crate::helpers::TestApp) -> Vec<pb::Document> {
    let types = ["application-form", "identity-proof", "notice"];
    let processes = [
        pb::BusinessProcess::NewConnection,
        pb::BusinessProcess::CapacityIncrease,
        pb::BusinessProcess::Inspection,
        pb::BusinessProcess::Rename,
        pb::BusinessProcess::Closure,
    ];
    let mut filed = Vec::new();
    for i in 0..30usize {
        let header = pb::FilingHeader {
            document_type: types[i % 3].into(),
            business_process: processes[i % 5].into(),
            work_order_number: format!("WO-{}", i / 10),
            title: format!("document {i}"),
            ..header(ACCOUNT, &format!("req-{i}"))
        };
        filed.push(
            app.file(filing(header, &[jpeg_page(64, i as u64)], 64))
                .await
                .unwrap(),
        );
        // The server's clock stands still in tests: one filing per second, in order.
        app.clock.advance(chrono::TimeDelta::seconds(1));
    }
    filed
}

fn request() -> pb::ListDocumentsRequest {
    pb::ListDocumentsRequest {
        parent: format!("customers/{ACCOUNT}"),
        page_size: 7,
        ..Default::default()
    }
}

fn titles(documents: &[pb::Document]) -> HashSet<String> {
    documents.iter().map(|d| d.title.clone()).collect()
}

#[tokio::test]
async fn paging_through_an_archive_returns_every_document_once_newest_first() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let filed = file_thirty(&mut app).await;

    let listed = app.list_all(request()).await;

    assert_eq!(listed.len(), 30);
    let ids: Vec<&str> = listed.iter().map(|d| d.document_id.as_str()).collect();
    let expected: Vec<&str> = filed.iter().rev().map(|d| d.document_id.as_str()).collect();
    assert_eq!(ids, expected, "newest first, each exactly once");
    assert_eq!(
        ignoring_renditions(listed[0].clone()),
        ignoring_renditions(filed[29].clone()),
        "listed documents carry their pages"
    );
}

#[tokio::test]
async fn each_filter_narrows_the_listing() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let filed = file_thirty(&mut app).await;
    let expect = |keep: &dyn Fn(usize) -> bool| -> HashSet<String> {
        (0..30)
            .filter(|i| keep(*i))
            .map(|i| format!("document {i}"))
            .collect()
    };

    let by_type = app
        .list_all(pb::ListDocumentsRequest {
            document_type: "identity-proof".into(),
            ..request()
        })
        .await;
    assert_eq!(titles(&by_type), expect(&|i| i % 3 == 1));

    let by_process = app
        .list_all(pb::ListDocumentsRequest {
            business_process: pb::BusinessProcess::Inspection.into(),
            ..request()
        })
        .await;
    assert_eq!(titles(&by_process), expect(&|i| i % 5 == 2));

    let by_work_order = app
        .list_all(pb::ListDocumentsRequest {
            work_order_number: "WO-1".into(),
            ..request()
        })
        .await;
    assert_eq!(titles(&by_work_order), expect(&|i| i / 10 == 1));

    // [file time of #10, file time of #20): documents 10..20.
    let by_dates = app
        .list_all(pb::ListDocumentsRequest {
            filed_after: filed[10].file_time,
            filed_before: filed[20].file_time,
            ..request()
        })
        .await;
    assert_eq!(titles(&by_dates), expect(&|i| (10..20).contains(&i)));

    let combined = app
        .list_all(pb::ListDocumentsRequest {
            document_type: "application-form".into(),
            work_order_number: "WO-2".into(),
            ..request()
        })
        .await;
    assert_eq!(titles(&combined), expect(&|i| i % 3 == 0 && i / 10 == 2));

    let nothing = app
        .list_all(pb::ListDocumentsRequest {
            document_type: "supply-contract".into(),
            ..request()
        })
        .await;
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn bad_listing_requests_are_refused() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    file_thirty(&mut app).await;

    let unknown = app
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: "customers/1299999999".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let first = app
        .documents
        .list_documents(request())
        .await
        .unwrap()
        .into_inner();
    let cases = [
        pb::ListDocumentsRequest {
            parent: "customers/x".into(),
            ..request()
        },
        pb::ListDocumentsRequest {
            page_size: -1,
            ..request()
        },
        pb::ListDocumentsRequest {
            document_type: "Bad Type".into(),
            ..request()
        },
        pb::ListDocumentsRequest {
            business_process: 77,
            ..request()
        },
        pb::ListDocumentsRequest {
            filed_after: Some(prost_types::Timestamp {
                seconds: 100,
                nanos: 0,
            }),
            filed_before: Some(prost_types::Timestamp {
                seconds: 50,
                nanos: 0,
            }),
            ..request()
        },
        pb::ListDocumentsRequest {
            page_token: "garbage".into(),
            ..request()
        },
        // A token is bound to the filters it was issued with.
        pb::ListDocumentsRequest {
            page_token: first.next_page_token.clone(),
            document_type: "notice".into(),
            ..request()
        },
    ];
    for case in cases {
        let status = app
            .documents
            .list_documents(case.clone())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{case:?}");
    }
}

#[tokio::test]
async fn an_empty_archive_lists_nothing() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let response = app
        .documents
        .list_documents(request())
        .await
        .unwrap()
        .into_inner();
    assert!(response.documents.is_empty());
    assert!(response.next_page_token.is_empty());
}
