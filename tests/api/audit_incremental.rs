//! VerifyAuditChain resumes where the last verification found the chain intact, so it costs
//! what was added since and finishes at any volume; the marked event must still be there and
//! unchanged.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;

use crate::helpers::{TestApp, eventually, lift_trail_guard, spawn_app};

async fn verify(app: &mut TestApp) -> pb::VerifyAuditChainResponse {
    app.audit
        .verify_audit_chain(pb::VerifyAuditChainRequest {})
        .await
        .expect("the verification answers")
        .into_inner()
}

async fn stored_events(app: &TestApp) -> i64 {
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .expect("the test database answers");
    sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&mut db)
        .await
        .expect("the events are counted")
}

/// Makes `n` audited calls and waits until their events are stored.
async fn calls(app: &mut TestApp, n: usize) {
    let before = stored_events(app).await;
    for _ in 0..n {
        app.document_types
            .list_document_types(pb::ListDocumentTypesRequest {})
            .await
            .expect("the catalog is listed");
    }
    eventually(
        Duration::from_secs(5),
        "the events to be stored",
        || async { stored_events(app).await >= before + n as i64 },
    )
    .await;
}

#[tokio::test]
async fn a_second_verification_checks_only_what_came_since_the_first() {
    let mut app = spawn_app().await;
    calls(&mut app, 20).await;
    let first = verify(&mut app).await;
    assert!(first.intact, "{first:?}");
    assert!(first.events_checked >= 20, "{first:?}");

    calls(&mut app, 3).await;
    let second = verify(&mut app).await;
    assert!(second.intact, "{second:?}");
    // The marked event, the first verification's own event, and the three calls.
    assert!(
        second.events_checked <= 6,
        "resumed at the mark, not from the start: {second:?}"
    );
}

#[tokio::test]
async fn deleting_the_verified_events_is_found_by_the_next_verification() {
    let mut app = spawn_app().await;
    calls(&mut app, 10).await;
    assert!(verify(&mut app).await.intact);
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    lift_trail_guard(&mut db).await;
    sqlx::query("DELETE FROM audit_events WHERE seq > 5")
        .execute(&mut db)
        .await
        .unwrap();

    let after = verify(&mut app).await;
    assert!(!after.intact, "{after:?}");
}
