//! Declassification needs two people: a correction that lowers a document's confidentiality
//! uses another person's approval of exactly that change of exactly that version.

use std::time::Duration;

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{
    Clients, TestApp, Token, correct, eventually, filing, header, jpeg_page, retitle, spawn_app,
};

const ACCOUNT: &str = "1201000077";

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::custodian()
    }
}

/// A correction of version `version` that retypes the document as `document_type`.
fn retype(name: &str, version: i32, document_type: &str) -> pb::CorrectionHeader {
    pb::CorrectionHeader {
        reason: "误归为身份证明".into(),
        document: Some(pb::Document {
            document_type: document_type.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["document_type".into()],
        }),
        ..retitle(name, version, "")
    }
}

fn approval(name: &str, version: i32, document_type: &str) -> pb::ApproveDeclassificationRequest {
    pb::ApproveDeclassificationRequest {
        name: name.into(),
        expected_version: version,
        document_type: document_type.into(),
        reason: "核对原件：实为停电通知".into(),
    }
}

/// An identity proof (confidential) on a fresh account.
async fn identity_proof(app: &mut TestApp) -> pb::Document {
    app.create_customer(ACCOUNT).await;
    app.file(filing(
        pb::FilingHeader {
            document_type: "identity-proof".into(),
            ..header(ACCOUNT, "proof")
        },
        &[jpeg_page(300, 7)],
        300,
    ))
    .await
    .unwrap()
}

async fn approve(
    clients: &mut Clients,
    request: pb::ApproveDeclassificationRequest,
) -> Result<pb::Declassification, tonic::Status> {
    clients
        .documents
        .approve_declassification(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn one_person_cannot_declassify_a_document_and_a_second_persons_approval_is_used_once() {
    let mut app = spawn_app().await;
    let filed = identity_proof(&mut app).await;
    let mut wang = app.clients_as(&custodian_named("wang"));
    let mut li = app.clients_as(&custodian_named("li"));

    let status = correct(&mut wang, retype(&filed.name, 1, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("ApproveDeclassification")
            && status.message().contains("second person"),
        "{}",
        status.message()
    );

    // Approving one's own correction does not count.
    approve(&mut wang, approval(&filed.name, 1, "notice"))
        .await
        .unwrap();
    let status = correct(&mut wang, retype(&filed.name, 1, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("your own"),
        "{}",
        status.message()
    );

    // Someone else's approval of another type does not count either.
    approve(&mut li, approval(&filed.name, 1, "supply-contract"))
        .await
        .unwrap();
    let status = correct(&mut wang, retype(&filed.name, 1, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let approved = approve(&mut li, approval(&filed.name, 1, "notice"))
        .await
        .unwrap();
    assert_eq!(approved.approved_by, "archive-desk/li");
    assert_eq!(approved.version, 1);
    assert_eq!(approved.from_document_type, "identity-proof");
    assert!(
        approved
            .name
            .starts_with(&format!("{}/declassifications/", filed.name))
    );
    let corrected = correct(&mut wang, retype(&filed.name, 1, "notice"), vec![])
        .await
        .unwrap();
    assert_eq!(
        (corrected.version, corrected.document_type.as_str()),
        (2, "notice")
    );

    // Raising it back needs nobody; lowering it again needs a new approval: the first is used.
    correct(&mut wang, retype(&filed.name, 2, "identity-proof"), vec![])
        .await
        .unwrap();
    let status = correct(&mut wang, retype(&filed.name, 3, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    // The trail has both acts, the correction naming the approval it used. Refusals are
    // written behind the reply, so the test waits for the last of them.
    let auditor = app.clients_as(&Token::custodian());
    let events = || {
        let mut auditor = auditor.clone();
        async move {
            auditor
                .audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    account_number: ACCOUNT.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .events
        }
    };
    let refused = |events: &[pb::AuditEvent]| {
        events
            .iter()
            .filter(|e| e.action == "CorrectDocument" && e.outcome == "failed_precondition")
            .count()
    };
    eventually(
        Duration::from_secs(5),
        "four refused corrections",
        || async { refused(&events().await) == 4 },
    )
    .await;
    let events = events().await;
    let approvals = events
        .iter()
        .filter(|e| e.action == "ApproveDeclassification" && e.outcome == "ok")
        .count();
    assert_eq!(approvals, 3);
    let declassified = events
        .iter()
        .find(|e| e.action == "CorrectDocument" && e.details.contains(&approved.name))
        .expect("the correction records the approval it used");
    assert_eq!(declassified.person, "wang");
}

#[tokio::test]
async fn an_approval_lapses_when_the_document_changes_first_or_after_seven_days() {
    let mut app = spawn_app().await;
    let filed = identity_proof(&mut app).await;
    let mut wang = app.clients_as(&custodian_named("wang"));
    let mut li = app.clients_as(&custodian_named("li"));

    approve(&mut li, approval(&filed.name, 1, "notice"))
        .await
        .unwrap();
    correct(&mut wang, retitle(&filed.name, 1, "身份证复印件"), vec![])
        .await
        .unwrap();
    let status = correct(&mut wang, retype(&filed.name, 2, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "approved for version 1 only"
    );

    approve(&mut li, approval(&filed.name, 2, "notice"))
        .await
        .unwrap();
    app.clock
        .advance(TimeDelta::days(7) + TimeDelta::minutes(1));
    let status = correct(&mut wang, retype(&filed.name, 2, "notice"), vec![])
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "expired after 7 days"
    );

    approve(&mut li, approval(&filed.name, 2, "notice"))
        .await
        .unwrap();
    app.clock.advance(TimeDelta::days(6));
    correct(&mut wang, retype(&filed.name, 2, "notice"), vec![])
        .await
        .unwrap();
}

#[tokio::test]
async fn approving_needs_the_permission_the_current_version_and_a_lower_type() {
    let mut app = spawn_app().await;
    let filed = identity_proof(&mut app).await;
    let mut li = app.clients_as(&custodian_named("li"));

    let mut clerk = app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));
    let status = approve(&mut clerk, approval(&filed.name, 1, "notice"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let mut elsewhere = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    let status = approve(&mut elsewhere, approval(&filed.name, 1, "notice"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let status = approve(&mut li, approval(&filed.name, 2, "notice"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");

    // Same level (another confidential type) or higher: no approval is needed, none is made.
    let status = approve(&mut li, approval(&filed.name, 1, "power-of-attorney"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with("document_type"),
        "{}",
        status.message()
    );

    let status = approve(&mut li, approval(&filed.name, 1, "no-such-type"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    for (request, field) in [
        (
            pb::ApproveDeclassificationRequest {
                reason: String::new(),
                ..approval(&filed.name, 1, "notice")
            },
            "reason",
        ),
        (approval(&filed.name, 0, "notice"), "expected_version"),
        (approval("customers/x/documents/y", 1, "notice"), "name"),
        (approval(&filed.name, 1, "Not A Type"), "document_type"),
    ] {
        let status = approve(&mut li, request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
}
