//! Heavy calls — the org-unit completeness report, the audit chain verification — run a few at
//! a time, so they cannot take the database pool from the counter's calls; a report needs the
//! run-reports permission beside read-documents.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{Clients, TestApp, TestConfig, Token, eventually, spawn_app_with};

/// Adds 60,000 customers without any document to county 120101: a report over them runs for
/// many batches, and its reply is larger than HTTP/2 lets the server send unread.
async fn many_incomplete_archives(app: &TestApp) {
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .expect("the test database answers");
    sqlx::query(
        "INSERT INTO customers (account_number, display_name, customer_class, org_unit_code, status)
         SELECT lpad(i::text, 10, '0'), 'c' || i, 'residential', '12010101', 'active'
         FROM generate_series(1, 60000) i",
    )
    .execute(&mut db)
    .await
    .expect("the customers are added");
}

/// Starts a report over province 12 and returns its stream unread: the report holds its place
/// until the stream is dropped.
async fn open_report(
    clients: &Clients,
) -> Result<tonic::Streaming<pb::StreamCompletenessReportResponse>, tonic::Status> {
    let mut completeness = clients.completeness.clone();
    Ok(completeness
        .stream_completeness_report(pb::StreamCompletenessReportRequest {
            org_unit_code: "12".into(),
        })
        .await?
        .into_inner())
}

async fn verify(clients: &Clients) -> Result<pb::VerifyAuditChainResponse, tonic::Status> {
    let mut audit = clients.audit.clone();
    Ok(audit
        .verify_audit_chain(pb::VerifyAuditChainRequest {})
        .await?
        .into_inner())
}

#[tokio::test]
async fn heavy_calls_beyond_their_limit_are_refused_until_one_finishes() {
    let app = spawn_app_with(TestConfig {
        max_heavy_requests: 1,
        ..TestConfig::default()
    })
    .await;
    many_incomplete_archives(&app).await;
    let custodian = app.clients_as(&Token::custodian());

    let running = open_report(&custodian)
        .await
        .expect("the first report starts");
    let refused = open_report(&custodian)
        .await
        .expect_err("a second report waits for the first");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("running"),
        "{}",
        refused.message()
    );
    let refused = verify(&custodian)
        .await
        .expect_err("a verification waits for the report");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

    // Light calls go on meanwhile.
    let mut types = custodian.document_types.clone();
    types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .expect("a light call is served while a report runs");

    drop(running);
    eventually(
        Duration::from_secs(5),
        "the report's place to be freed",
        || async { verify(&custodian).await.is_ok() },
    )
    .await;
}

#[tokio::test]
async fn a_role_without_run_reports_gets_no_report() {
    let app = spawn_app_with(TestConfig::default()).await;
    // A counter clerk reads documents in its county, but runs no reports.
    let clerk = app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));

    let refused = open_report(&clerk)
        .await
        .expect_err("the clerk may not run the report");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("run-reports"),
        "{}",
        refused.message()
    );
}
