//! SearchDocuments in the basic and the full view (AIP-157): the basic view finds the same
//! documents as the full one, for every reach, without their pages. The test archive is
//! `search_documents::archive`.

use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{Token, filing, header, ignoring_renditions, jpeg_page, png_page, spawn_app};
use crate::search_documents::{A, Archive, archive, names, search_all};

/// The full view's document as the basic view must show it: everything but the pages.
fn without_pages(document: &pb::Document) -> pb::Document {
    pb::Document {
        pages: Vec::new(),
        ..document.clone()
    }
}

#[tokio::test]
async fn the_basic_view_finds_what_the_full_view_finds_without_the_pages() {
    let Archive { app, filed } = archive().await;
    let callers = [
        Token::custodian(),
        Token::new("metering-platform", "metering-operator", Some("1201")),
        Token::new("marketing", "inspector", Some("120101")),
        Token::new("archive-desk", "province-custodian", Some("13")),
        Token {
            org_unit: None,
            account: Some(A.into()),
            ..Token::new("payment-channel", "payment-channel", None)
        },
    ];
    let searches = [
        pb::SearchDocumentsRequest::default(),
        pb::SearchDocumentsRequest {
            document_types: vec!["application-form".into(), "notice".into()],
            ..Default::default()
        },
        pb::SearchDocumentsRequest {
            order_by: pb::DocumentOrder::Reference.into(),
            ..Default::default()
        },
    ];
    for token in &callers {
        let mut client = app.clients_as(token).search;
        for search in &searches {
            let in_view = |view: pb::DocumentView| pb::SearchDocumentsRequest {
                view: view.into(),
                ..search.clone()
            };
            let full = search_all(&mut client, in_view(pb::DocumentView::Full))
                .await
                .unwrap();
            let unset = search_all(&mut client, in_view(pb::DocumentView::Unspecified))
                .await
                .unwrap();
            let basic = search_all(&mut client, in_view(pb::DocumentView::Basic))
                .await
                .unwrap();
            // Unset is the full view, pages and all (the rendition worker may finish a page
            // between the two searches).
            let settled = |documents: &[pb::Document]| {
                documents
                    .iter()
                    .cloned()
                    .map(ignoring_renditions)
                    .collect::<Vec<_>>()
            };
            assert_eq!(settled(&unset), settled(&full), "{token:?} {search:?}");
            assert!(
                full.iter()
                    .all(|d| d.pages.len() == d.page_count as usize && d.page_count == 1),
                "{token:?} {search:?}"
            );
            // The same documents in the same order (so the same reach), without the pages
            // but with their count and size.
            assert_eq!(names(&basic), names(&full), "{token:?} {search:?}");
            assert_eq!(
                basic,
                full.iter().map(without_pages).collect::<Vec<_>>(),
                "{token:?} {search:?}"
            );
            assert!(basic.iter().all(|d| d.size_bytes == 300));
        }
    }
    // The callers between them saw documents (the reach cases are search_documents_reach's).
    assert!(!filed.is_empty());
}

#[tokio::test]
async fn the_basic_view_counts_every_page_of_the_current_version() {
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    let filed = app
        .file(filing(
            header(A, "two-pages"),
            &[jpeg_page(3_000, 1), png_page(500, 2)],
            1024,
        ))
        .await
        .unwrap();
    let search = |view: pb::DocumentView| pb::SearchDocumentsRequest {
        work_order_number: filed.work_order_number.clone(),
        view: view.into(),
        ..Default::default()
    };
    let basic = app
        .search
        .search_documents(search(pb::DocumentView::Basic))
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(names(&basic), vec![filed.name.clone()]);
    assert!(basic[0].pages.is_empty());
    assert_eq!((basic[0].page_count, basic[0].size_bytes), (2, 3_500));
    let full = app
        .search
        .search_documents(search(pb::DocumentView::Full))
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(
        full[0]
            .pages
            .iter()
            .map(|p| p.size_bytes)
            .collect::<Vec<_>>(),
        vec![3_000, 500]
    );

    // A view the contract does not know is refused, naming the field.
    let status = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            view: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("view"), "{}", status.message());
}

#[tokio::test]
async fn a_page_token_serves_either_view() {
    // The view is not part of the query: a screen that lists in the basic view can open the
    // next page in the full one without starting over.
    let Archive { mut app, .. } = archive().await;
    let first = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            view: pb::DocumentView::Basic.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.documents.len(), 2);
    let next = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            view: pb::DocumentView::Full.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let all = search_all(&mut app.search, pb::SearchDocumentsRequest::default())
        .await
        .unwrap();
    assert_eq!(names(&next.documents), names(&all[2..4]));
    assert!(next.documents.iter().all(|d| d.pages.len() == 1));
}
