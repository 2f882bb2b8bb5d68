//! GetStatistics and the rollups behind it: equal to a recount after a mix of filings, a
//! correction retyping a document, a destruction, a customer moving unit and one closing;
//! rolled up county → city → province; within the caller's reach and permission.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    TestApp, Token, correct, customer, filing, header, jpeg_page, spawn_app, update_customer,
};

const A: &str = "1201010001"; // 120101
const B: &str = "1201010002"; // 120101, moves to 120102
const C: &str = "1202010001"; // 120201, a business, closes

/// Documents, pages and bytes.
type Figures = (i64, i64, i64);

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "province-custodian", Some("12"))
    }
}

pub(crate) async fn file(
    app: &mut TestApp,
    account: &str,
    document_type: &str,
    pages: u64,
    seed: u64,
) -> pb::Document {
    let h = pb::FilingHeader {
        document_type: document_type.into(),
        ..header(account, &format!("stats-{seed}"))
    };
    let pages: Vec<Vec<u8>> = (0..pages)
        .map(|n| jpeg_page(400 + 10 * n as usize, seed * 10 + n))
        .collect();
    app.file(filing(h, &pages, 4096)).await.unwrap()
}

async fn statistics(
    app: &TestApp,
    token: &Token,
    request: pb::GetStatisticsRequest,
) -> Result<pb::GetStatisticsResponse, tonic::Status> {
    app.clients_as(token)
        .statistics
        .get_statistics(request)
        .await
        .map(tonic::Response::into_inner)
}

fn per_unit(
    response: &pb::GetStatisticsResponse,
) -> (BTreeMap<String, i64>, BTreeMap<String, Figures>) {
    (
        response
            .archives
            .iter()
            .map(|a| (a.org_unit.clone(), a.archives))
            .collect(),
        response
            .documents
            .iter()
            .map(|d| (d.org_unit.clone(), (d.documents, d.pages, d.bytes)))
            .collect(),
    )
}

pub(crate) async fn discrepancies(app: &TestApp) -> Vec<String> {
    app.database().statistics_discrepancies().await.unwrap()
}

#[tokio::test]
async fn the_rollups_equal_a_recount_after_filings_corrections_destructions_and_moves() {
    let mut app = spawn_app().await;
    for (account, unit, class) in [
        (A, "120101", pb::CustomerClass::Residential),
        (B, "120101", pb::CustomerClass::Residential),
        (C, "120201", pb::CustomerClass::NonResidential),
    ] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(pb::Customer {
                    customer_class: class.into(),
                    ..customer(account, unit)
                }),
            })
            .await
            .unwrap();
    }
    let doomed = file(&mut app, A, "notice", 2, 1).await;
    let retyped = file(&mut app, A, "application-form", 1, 2).await;
    let moved = file(&mut app, B, "supply-contract", 3, 3).await;
    let c1 = file(&mut app, C, "business-licence", 1, 4).await;
    let c2 = file(&mut app, C, "business-licence", 2, 5).await;
    assert!(discrepancies(&app).await.is_empty(), "after the filings");

    // A correction retypes a document (and keeps its page).
    let mut clients = app.clients_as(&Token::custodian());
    let retyped = correct(
        &mut clients,
        pb::CorrectionHeader {
            name: retyped.name.clone(),
            expected_version: 1,
            reason: "类别有误".into(),
            document: Some(pb::Document {
                document_type: "power-of-attorney".into(),
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
    assert_eq!(retyped.document_type, "power-of-attorney");

    // The notice expires and is destroyed by a two-person disposal.
    app.clock.advance(TimeDelta::days(366 * 10));
    let list = app
        .clients_as(&custodian_named("alice"))
        .disposal
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "appraisal".into(),
            documents: vec![doomed.name.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    app.clients_as(&custodian_named("bob"))
        .disposal
        .approve_destruction_list(pb::ApproveDestructionListRequest {
            name: list.name,
            note: "checked".into(),
        })
        .await
        .unwrap();

    // B moves to another county, C closes; B files once more.
    update_customer(
        &mut app,
        B,
        pb::Customer {
            org_unit_code: "120102".into(),
            ..Default::default()
        },
        &["org_unit_code"],
    )
    .await;
    update_customer(
        &mut app,
        C,
        pb::Customer {
            status: pb::CustomerStatus::Closed.into(),
            ..Default::default()
        },
        &["status"],
    )
    .await;
    let after_move = file(&mut app, B, "notice", 1, 6).await;

    assert_eq!(
        discrepancies(&app).await,
        Vec::<String>::new(),
        "after the mixed history"
    );

    let custodian = Token::custodian();
    let response = statistics(&app, &custodian, pb::GetStatisticsRequest::default())
        .await
        .unwrap();
    let (archives, documents) = per_unit(&response);
    let expected_archives: BTreeMap<String, i64> = [
        ("12", 3),
        ("1201", 2),
        ("120101", 1),
        ("120102", 1),
        ("1202", 1),
        ("120201", 1),
    ]
    .into_iter()
    .map(|(u, n)| (u.to_owned(), n))
    .collect();
    assert_eq!(archives, expected_archives);
    let figures = |docs: &[&pb::Document]| {
        (
            docs.len() as i64,
            docs.iter().map(|d| d.pages.len() as i64).sum::<i64>(),
            docs.iter().map(|d| d.size_bytes).sum::<i64>(),
        )
    };
    let expected_documents: BTreeMap<String, Figures> = [
        ("12", figures(&[&retyped, &moved, &after_move, &c1, &c2])),
        ("1201", figures(&[&retyped, &moved, &after_move])),
        ("120101", figures(&[&retyped])),
        ("120102", figures(&[&moved, &after_move])),
        ("1202", figures(&[&c1, &c2])),
        ("120201", figures(&[&c1, &c2])),
    ]
    .into_iter()
    .map(|(u, f)| (u.to_owned(), f))
    .collect();
    assert_eq!(documents, expected_documents);

    // Filters and breakdowns: the closed business's licences; A's retyped document.
    let closed = statistics(
        &app,
        &custodian,
        pb::GetStatisticsRequest {
            customer_status: pb::CustomerStatus::Closed.into(),
            by_document_type: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let top: Vec<(&str, &str, i64)> = closed
        .documents
        .iter()
        .filter(|d| d.org_unit == "12")
        .map(|d| (d.org_unit.as_str(), d.document_type.as_str(), d.documents))
        .collect();
    assert_eq!(top, vec![("12", "business-licence", 2)]);
    let typed = statistics(
        &app,
        &custodian,
        pb::GetStatisticsRequest {
            org_unit: "120101".into(),
            document_types: vec!["power-of-attorney".into()],
            by_month: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(typed.documents.len(), 1);
    assert_eq!(typed.documents[0].org_unit, "120101");
    assert_eq!(typed.documents[0].month.len(), 7, "YYYY-MM");

    // The check notices a rollup that drifted from the documents.
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    sqlx::query("UPDATE document_statistics SET documents = documents + 1 WHERE ctid = (SELECT ctid FROM document_statistics WHERE documents > 0 LIMIT 1)")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(discrepancies(&app).await.len(), 1);
}

#[tokio::test]
async fn statistics_count_only_the_callers_reach_and_need_run_reports() {
    let mut app = spawn_app().await;
    app.create_customer(A).await;
    file(&mut app, A, "identity-proof", 1, 1).await;
    let inspector = Token::new("marketing", "inspector", Some("1201"));
    let status = statistics(&app, &inspector, pb::GetStatisticsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Another province sees none of it.
    let other = Token::new("archive-desk", "province-custodian", Some("13"));
    let response = statistics(&app, &other, pb::GetStatisticsRequest::default())
        .await
        .unwrap();
    assert!(response.archives.is_empty() && response.documents.is_empty());
    let status = statistics(
        &app,
        &other,
        pb::GetStatisticsRequest {
            org_unit: "12".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A county custodian asking for the province gets its county, rolled up from it.
    let county = Token::new("archive-desk", "county-custodian", Some("120101"));
    let response = statistics(
        &app,
        &county,
        pb::GetStatisticsRequest {
            org_unit: "12".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (archives, _) = per_unit(&response);
    assert_eq!(
        archives.keys().cloned().collect::<Vec<_>>(),
        vec!["120101".to_owned()]
    );
    let status = statistics(
        &app,
        &county,
        pb::GetStatisticsRequest {
            from_month: "2026-13".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
