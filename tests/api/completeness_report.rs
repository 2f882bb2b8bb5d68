//! The org-unit completeness report: rate, what each incomplete archive lacks, which work
//! orders are incomplete, scope, and keyset batches over many accounts.

use custodian::proto::v1 as pb;
use pb::BusinessProcess as P;
use pb::stream_completeness_report_response::Item;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{Clients, TestApp, Token, file, open, spawn_app};

/// Runs the report; returns the incomplete archives and the summary.
async fn report(
    clients: &mut Clients,
    org_unit: &str,
) -> Result<(Vec<pb::IncompleteArchive>, pb::CompletenessSummary), tonic::Status> {
    let mut stream = clients
        .completeness
        .stream_completeness_report(pb::StreamCompletenessReportRequest {
            org_unit_code: org_unit.into(),
        })
        .await?
        .into_inner();
    let mut archives = Vec::new();
    let mut summary = None;
    while let Some(message) = stream.message().await? {
        assert!(summary.is_none(), "the summary comes last");
        match message.item.expect("every message carries an item") {
            Item::IncompleteArchive(archive) => archives.push(archive),
            Item::Summary(last) => summary = Some(last),
        }
    }
    Ok((archives, summary.expect("the report ends with its summary")))
}

fn own(app: &TestApp) -> Clients {
    app.clients_as(&Token::custodian())
}

/// Four archives in county 120101, one in 120102 and one in province 13.
async fn county(app: &mut TestApp) {
    open(
        app,
        "1201010001",
        pb::CustomerClass::Residential,
        "12010101",
    )
    .await;
    for document_type in ["application-form", "identity-proof"] {
        file(app, "1201010001", document_type, P::NewConnection, "WO-A").await;
    }
    open(app, "1201010002", pb::CustomerClass::Residential, "120101").await;
    file(
        app,
        "1201010002",
        "application-form",
        P::NewConnection,
        "WO-B",
    )
    .await;
    open(
        app,
        "1201010003",
        pb::CustomerClass::NonResidential,
        "12010102",
    )
    .await;
    open(app, "1201010004", pb::CustomerClass::Residential, "120101").await;
    for document_type in ["application-form", "identity-proof"] {
        file(app, "1201010004", document_type, P::NewConnection, "WO-D1").await;
    }
    file(
        app,
        "1201010004",
        "application-form",
        P::CapacityIncrease,
        "WO-D2",
    )
    .await;
    file(
        app,
        "1201010004",
        "inspection-work-order",
        P::Inspection,
        "WO-D3",
    )
    .await;
    file(app, "1201010004", "notice", P::Inspection, "WO-D4").await;
    open(app, "1201020001", pb::CustomerClass::Residential, "120102").await;
    let mut province_13 = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    province_13
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(crate::helpers::customer("1301010001", "130101")),
        })
        .await
        .unwrap();
}

fn lacking(case: &pb::CompletenessCase) -> Vec<(&str, i32, i32)> {
    case.items
        .iter()
        .map(|i| (i.document_type.as_str(), i.present_count, i.required_count))
        .collect()
}

#[tokio::test]
async fn the_report_gives_the_rate_and_what_each_incomplete_archive_lacks() {
    let mut app = spawn_app().await;
    county(&mut app).await;

    let (archives, summary) = report(&mut own(&app), "120101").await.unwrap();

    assert_eq!(summary.org_unit_code, "120101");
    assert_eq!((summary.archives, summary.complete_archives), (4, 1));
    assert_eq!(summary.completeness_rate, 0.25);
    // Cases: A 1, B 1, C 1 (its empty opening case), D 4.
    assert_eq!((summary.cases, summary.incomplete_cases), (7, 3));
    // In (org unit, account) order: 120101 before 12010102.
    let accounts: Vec<&str> = archives.iter().map(|a| a.account_number.as_str()).collect();
    assert_eq!(accounts, ["1201010002", "1201010004", "1201010003"]);

    let b = &archives[0];
    assert_eq!(b.customer, "customers/1201010002");
    assert_eq!(b.incomplete_cases.len(), 1);
    assert_eq!(b.incomplete_cases[0].work_order_number, "WO-B");
    assert_eq!(lacking(&b.incomplete_cases[0]), [("identity-proof", 0, 1)]);
    assert!(
        b.incomplete_cases[0].items[0].documents.is_empty(),
        "the report names no documents"
    );

    let d = &archives[1];
    let orders: Vec<(P, &str)> = d
        .incomplete_cases
        .iter()
        .map(|c| (c.business_process(), c.work_order_number.as_str()))
        .collect();
    assert_eq!(
        orders,
        [(P::Inspection, "WO-D4")],
        "only the incomplete work order"
    );
    assert_eq!(
        lacking(&d.incomplete_cases[0]),
        [("inspection-work-order", 0, 1)]
    );

    let c = &archives[2];
    assert_eq!(c.org_unit_code, "12010102");
    assert_eq!(c.customer_class(), pb::CustomerClass::NonResidential);
    assert_eq!(
        lacking(&c.incomplete_cases[0]),
        [
            ("application-form", 0, 1),
            ("business-licence", 0, 1),
            ("identity-proof", 0, 1),
            ("supply-contract", 0, 1),
        ]
    );
}

#[tokio::test]
async fn a_late_filing_raises_the_rate() {
    let mut app = spawn_app().await;
    county(&mut app).await;
    file(
        &mut app,
        "1201010002",
        "identity-proof",
        P::NewConnection,
        "WO-B",
    )
    .await;

    let (archives, summary) = report(&mut own(&app), "120101").await.unwrap();

    assert_eq!(summary.complete_archives, 2);
    assert_eq!(summary.completeness_rate, 0.5);
    assert!(!archives.iter().any(|a| a.account_number == "1201010002"));
}

#[tokio::test]
async fn an_org_scoped_caller_cannot_report_on_another_unit() {
    let mut app = spawn_app().await;
    county(&mut app).await;
    let mut county_custodian = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("120101"),
    ));

    let refused = report(&mut county_custodian, "13").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let sibling = report(&mut county_custodian, "120102").await.unwrap_err();
    assert_eq!(sibling.code(), Code::PermissionDenied);

    // Asking for the province gives the caller's own county.
    let (_, summary) = report(&mut county_custodian, "12").await.unwrap();
    assert_eq!(summary.org_unit_code, "120101");
    assert_eq!(summary.archives, 4);
    let (_, province) = report(&mut own(&app), "12").await.unwrap();
    assert_eq!(
        province.archives, 5,
        "province 12 holds both of its counties, not 13"
    );
}

#[tokio::test]
async fn a_self_service_customer_gets_no_report_and_a_bad_unit_is_invalid() {
    let app = spawn_app().await;
    let mut token = Token::new("self-service-portal", "customer", None);
    token.account = Some("1201010001".into());
    let refused = report(&mut app.clients_as(&token), "12").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    for bad in ["", "1", "12a4"] {
        let status = report(&mut own(&app), bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
        assert!(status.message().starts_with("org_unit_code: "));
    }
}

/// More accounts than one batch holds, spread over stations: each is counted exactly once.
#[tokio::test]
async fn the_report_reads_thousands_of_archives_in_batches_each_once() {
    let app = spawn_app().await;
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    // 2,500 accounts over five stations of county 120101 (more than two batches), every third
    // with a complete opening case, and 300 in the neighbouring county.
    sqlx::query(
        "INSERT INTO customers (account_number, display_name, customer_class, org_unit_code, status)
         SELECT lpad(i::text, 10, '0'), 'c' || i, 'residential',
                CASE WHEN i <= 2500 THEN '120101' || lpad((i % 5)::text, 2, '0') ELSE '120102' END,
                'active'
         FROM generate_series(1, 2800) i",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "WITH filed AS (
             SELECT gen_random_uuid() AS id, lpad(i::text, 10, '0') AS account, t
             FROM generate_series(3, 2800, 3) i, unnest(ARRAY['application-form', 'identity-proof']) t
         ), d AS (
             INSERT INTO documents (document_id, account_number, source_system, client_request_id)
             SELECT id, account, 'marketing', id::text FROM filed
         )
         INSERT INTO document_versions (document_id, version, document_type, business_process, title,
                                        page_count, size_bytes)
         SELECT id, 1, t, 'new_connection', t, 0, 0 FROM filed",
    )
    .execute(&mut db)
    .await
    .unwrap();

    let (archives, summary) = report(&mut own(&app), "120101").await.unwrap();

    assert_eq!(summary.archives, 2500);
    assert_eq!(summary.complete_archives, 833);
    assert_eq!(archives.len(), 2500 - 833);
    let keys: Vec<(String, String)> = archives
        .iter()
        .map(|a| (a.org_unit_code.clone(), a.account_number.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "in (org unit, account) order, without repeats"
    );
}
