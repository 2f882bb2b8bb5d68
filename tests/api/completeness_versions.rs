//! Completeness follows each document's current version, and destroyed documents leave it.

use custodian::proto::v1 as pb;
use pb::BusinessProcess as P;
use secrecy::ExposeSecret;
use sqlx::Connection;

use crate::completeness::{completeness, file, open};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_destroyed_document_no_longer_counts() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000008",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    file(
        &mut app,
        "1201000008",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let proof = file(
        &mut app,
        "1201000008",
        "identity-proof",
        P::NewConnection,
        "WO-1",
    )
    .await;
    assert!(
        completeness(&mut app, "1201000008", P::Unspecified, "")
            .await
            .complete
    );
    // Disposal's outcome, set directly: its two-person approval is tested with disposal.
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    sqlx::query("UPDATE documents SET destroyed_at = now() WHERE document_id = $1::uuid")
        .bind(&proof.document_id)
        .execute(&mut db)
        .await
        .unwrap();

    let after = completeness(&mut app, "1201000008", P::Unspecified, "").await;

    assert!(!after.complete);
    assert_eq!(after.cases[0].items[1].status(), pb::ItemStatus::Missing);
}

/// A correction's effect, written as the schema keeps it (a new version, `current_version`
/// moved), so that this holds whatever the correcting RPC: only the current version counts.
#[tokio::test]
async fn a_document_counts_by_its_current_version() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000009",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    file(
        &mut app,
        "1201000009",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let misfiled = file(&mut app, "1201000009", "notice", P::Inspection, "WO-7").await;
    assert!(
        !completeness(&mut app, "1201000009", P::NewConnection, "")
            .await
            .complete
    );
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO document_versions (document_id, version, document_type, business_process,
                                        work_order_number, title)
         VALUES ($1::uuid, 2, 'identity-proof', 'new_connection', 'WO-1', 'corrected')",
    )
    .bind(&misfiled.document_id)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("UPDATE documents SET current_version = 2 WHERE document_id = $1::uuid")
        .bind(&misfiled.document_id)
        .execute(&mut db)
        .await
        .unwrap();

    let after = completeness(&mut app, "1201000009", P::Unspecified, "").await;

    assert!(after.complete);
    assert_eq!(
        after.cases.len(),
        1,
        "the inspection case went with the old version"
    );
    assert_eq!(after.cases[0].items[1].documents, [misfiled.name]);
}
