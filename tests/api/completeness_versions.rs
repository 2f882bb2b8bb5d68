//! Completeness follows each document's current version, and destroyed documents leave it.

use custodian::proto::v1 as pb;
use pb::BusinessProcess as P;
use secrecy::ExposeSecret;
use sqlx::Connection;

use crate::helpers::{completeness, file, open, spawn_app};

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
                                        work_order_number, title, page_count, size_bytes)
         VALUES ($1::uuid, 2, 'identity-proof', 'new_connection', 'WO-1', 'corrected', 0, 0)",
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

/// The "satisfied by a later version": a document filed under the wrong type and work
/// order is corrected with CorrectDocument, and the corrected version completes the case.
#[tokio::test]
async fn a_correction_that_retypes_a_document_completes_its_case() {
    use custodian::proto::v1::correct_document_request::Part;
    use prost_types::FieldMask;

    use crate::helpers::{Token, correct, part};

    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000010",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    file(
        &mut app,
        "1201000010",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let misfiled = file(&mut app, "1201000010", "notice", P::Inspection, "WO-7").await;
    let before = completeness(&mut app, "1201000010", P::Unspecified, "").await;
    assert!(!before.complete);
    assert_eq!(
        before.cases.len(),
        2,
        "the opening case and the misfiled inspection"
    );

    let corrected = correct(
        &mut app.clients_as(&Token::custodian()),
        pb::CorrectionHeader {
            name: misfiled.name.clone(),
            expected_version: 1,
            reason: "归档类别与工单有误".into(),
            document: Some(pb::Document {
                document_type: "identity-proof".into(),
                business_process: P::NewConnection.into(),
                work_order_number: "WO-1".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec![
                    "document_type".into(),
                    "business_process".into(),
                    "work_order_number".into(),
                ],
            }),
        },
        vec![part(Part::KeepPage(pb::KeepPage { page_number: 1 }))],
    )
    .await
    .expect("the correction is accepted");
    assert_eq!(corrected.version, 2);

    let after = completeness(&mut app, "1201000010", P::Unspecified, "").await;

    assert!(after.complete);
    assert_eq!(
        after.cases.len(),
        1,
        "the inspection case left with version 1"
    );
    let proof = &after.cases[0].items[1];
    assert_eq!(proof.document_type, "identity-proof");
    assert_eq!(proof.documents, [misfiled.name]);
}
