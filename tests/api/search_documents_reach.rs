//! SearchDocuments beyond its filters: documents out of reach or of hidden types never appear,
//! paging holds while filings arrive, the reference order, and the index follows corrections.
//! The test archive is `search_documents::archive`.

use std::collections::{BTreeSet, HashMap};

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{Token, filing, header, jpeg_page, spawn_app};
use crate::search_documents::{A, Archive, Filed, ReachCase, Z, archive, names, search_all};

#[tokio::test]
async fn documents_out_of_reach_or_of_hidden_types_never_appear() {
    let Archive { app, filed } = archive().await;
    let by_name: HashMap<&str, &Filed> = filed.iter().map(|d| (d.name.as_str(), d)).collect();
    let cases: Vec<ReachCase> = vec![
        // Types limited to the metering papers, internal clearance.
        (
            Token::new("metering-platform", "metering-operator", Some("1201")),
            Box::new(|d| {
                d.org_unit.starts_with("1201")
                    && [
                        "meter-installation-record",
                        "inspection-work-order",
                        "supply-contract",
                    ]
                    .contains(&d.document_type.as_str())
            }),
        ),
        // Internal clearance: no identity proofs.
        (
            Token::new("marketing", "inspector", Some("120101")),
            Box::new(|d| d.org_unit == "120101" && d.document_type != "identity-proof"),
        ),
        // The other province sees only its own account.
        (
            Token::new("archive-desk", "province-custodian", Some("13")),
            Box::new(|d| d.account == Z),
        ),
        // A payment channel serves one account, public types only.
        (
            Token {
                org_unit: None,
                account: Some(A.into()),
                ..Token::new("payment-channel", "payment-channel", None)
            },
            Box::new(|d| {
                d.account == A
                    && ["notice", "tariff-change-record"].contains(&d.document_type.as_str())
            }),
        ),
    ];
    for (token, keep) in cases {
        let mut client = app.clients_as(&token).search;
        let found = search_all(&mut client, pb::SearchDocumentsRequest::default())
            .await
            .unwrap();
        let found: BTreeSet<String> = names(&found).into_iter().collect();
        let want: BTreeSet<String> = filed
            .iter()
            .filter(|d| keep(d))
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(found, want, "{token:?}");
        assert!(found.iter().all(|name| by_name.contains_key(name.as_str())));
        // Naming a hidden type finds nothing more.
        let typed = search_all(
            &mut client,
            pb::SearchDocumentsRequest {
                document_types: vec!["identity-proof".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(typed.iter().all(|d| found.contains(&d.name)), "{token:?}");
    }
    // A unit beside the reach is refused, not answered empty or partly.
    let mut county = app
        .clients_as(&Token::new(
            "archive-desk",
            "county-custodian",
            Some("120101"),
        ))
        .search;
    let status = county
        .search_documents(pb::SearchDocumentsRequest {
            org_unit: "120102".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A unit above the reach is narrowed to it.
    let found = search_all(
        &mut county,
        pb::SearchDocumentsRequest {
            org_unit: "12".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        found
            .iter()
            .all(|d| by_name[d.name.as_str()].org_unit == "120101")
    );
    assert!(!found.is_empty());
}

#[tokio::test]
async fn paging_while_filings_arrive_has_no_gaps_and_no_duplicates() {
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    let mut before = BTreeSet::new();
    for i in 0..40 {
        // Several filings share each instant: the id breaks the ties.
        if i % 3 == 0 {
            app.clock.advance(TimeDelta::seconds(1));
        }
        let document = app
            .file(filing(
                header(A, &format!("old-{i}")),
                &[jpeg_page(200, i)],
                200,
            ))
            .await
            .unwrap();
        before.insert(document.name);
    }
    let mut seen = Vec::new();
    let mut request = pb::SearchDocumentsRequest {
        org_unit: "1201".into(),
        page_size: 6,
        ..Default::default()
    };
    let mut arrivals = 0;
    loop {
        let page = app
            .search
            .search_documents(request.clone())
            .await
            .unwrap()
            .into_inner();
        seen.extend(names(&page.documents));
        // Filings arrive between the pages.
        for _ in 0..2 {
            app.clock.advance(TimeDelta::milliseconds(10));
            app.file(filing(
                header(A, &format!("new-{arrivals}")),
                &[jpeg_page(200, 99)],
                200,
            ))
            .await
            .unwrap();
            arrivals += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a document appeared twice");
    assert_eq!(
        unique, before,
        "exactly the documents there when paging began"
    );
    // A token is bound to its query.
    let first = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = app
        .search
        .search_documents(pb::SearchDocumentsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            document_types: vec!["notice".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_reference_order_follows_account_then_filing_time() {
    let Archive { mut app, filed } = archive().await;
    let found = search_all(
        &mut app.search,
        pb::SearchDocumentsRequest {
            order_by: pb::DocumentOrder::Reference.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut want: Vec<&Filed> = filed
        .iter()
        .filter(|d| d.org_unit.starts_with("12"))
        .collect();
    want.sort_by(|a, b| (a.account, a.filed_at).cmp(&(b.account, b.filed_at)));
    assert_eq!(
        names(&found),
        want.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_correction_retyping_a_document_and_a_destruction_move_the_index() {
    // The index row follows the current version: a document retyped is found under its new
    // type only (one as confidential, so that no second person must approve). (Destruction is covered by the statistics recount test.)
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    let document = app
        .file(filing(header(A, "retype"), &[jpeg_page(200, 1)], 200))
        .await
        .unwrap();
    let mut clients = app.clients_as(&Token::custodian());
    crate::helpers::correct(
        &mut clients,
        pb::CorrectionHeader {
            name: document.name.clone(),
            expected_version: 1,
            reason: "类别有误".into(),
            document: Some(pb::Document {
                document_type: "supply-contract".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["document_type".into()],
            }),
        },
        vec![],
    )
    .await
    .unwrap();
    let typed = |t: &str| pb::SearchDocumentsRequest {
        document_types: vec![t.into()],
        ..Default::default()
    };
    assert!(
        search_all(&mut app.search, typed("application-form"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            &search_all(&mut app.search, typed("supply-contract"))
                .await
                .unwrap()
        ),
        vec![document.name]
    );
}
