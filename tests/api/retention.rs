//! Retention per class and trigger, legal holds, and the appraisal listing.

use chrono::{DateTime, Months, TimeDelta, Utc};
use custodian::domain::Clock;
use custodian::proto::v1 as pb;
use prost_types::{FieldMask, Timestamp};
use tonic::Code;

use crate::helpers::{TestApp, Token, file_typed, retention, spawn_app};

const ACCOUNT: &str = "1201000001";

fn time(timestamp: &Option<Timestamp>) -> DateTime<Utc> {
    let t = timestamp.as_ref().expect("a timestamp is set");
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

async fn close_account(app: &mut TestApp, account: &str) {
    app.customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{account}"),
                status: pb::CustomerStatus::Closed.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await
        .expect("the account is closed");
}

async fn expired(app: &mut TestApp, org_unit: &str, document_type: &str) -> Vec<String> {
    app.clients_as(&Token::custodian())
        .retention
        .list_expired_documents(pb::ListExpiredDocumentsRequest {
            org_unit_code: org_unit.into(),
            document_type: document_type.into(),
            ..Default::default()
        })
        .await
        .expect("the appraisal listing answers")
        .into_inner()
        .documents
        .into_iter()
        .map(|d| d.document)
        .collect()
}

#[tokio::test]
async fn retention_is_counted_per_class_from_filing_or_account_closure() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_typed(&mut app, ACCOUNT, "notice", 1).await;
    let form = file_typed(&mut app, ACCOUNT, "application-form", 2).await;
    let contract = file_typed(&mut app, ACCOUNT, "supply-contract", 3).await;
    let identity = file_typed(&mut app, ACCOUNT, "identity-proof", 4).await;
    let filed = app.clock.now();

    let ten = retention(&mut app, &notice).await;
    assert_eq!(ten.retention_class(), pb::RetentionClass::TenYears);
    assert_eq!(ten.trigger(), pb::RetentionTrigger::Filing);
    assert_eq!(time(&ten.start_time), filed);
    assert_eq!(
        time(&ten.expire_time),
        filed.checked_add_months(Months::new(120)).unwrap()
    );
    assert!(!ten.expired);

    let thirty = retention(&mut app, &form).await;
    assert_eq!(thirty.retention_class(), pb::RetentionClass::ThirtyYears);
    assert_eq!(
        time(&thirty.expire_time),
        filed.checked_add_months(Months::new(360)).unwrap()
    );

    let permanent = retention(&mut app, &contract).await;
    assert_eq!(permanent.retention_class(), pb::RetentionClass::Permanent);
    assert!(
        permanent.expire_time.is_none(),
        "a permanent record never expires"
    );

    // Kept from the account's closure: nothing runs while the account is open.
    let open = retention(&mut app, &identity).await;
    assert_eq!(open.trigger(), pb::RetentionTrigger::AccountClosure);
    assert!(open.start_time.is_none() && open.expire_time.is_none());
    close_account(&mut app, ACCOUNT).await;
    let closed = retention(&mut app, &identity).await;
    let closed_at = time(&closed.start_time);
    assert_eq!(
        time(&closed.expire_time),
        closed_at.checked_add_months(Months::new(360)).unwrap()
    );

    // Ten years and a second later only the notice has expired.
    app.clock.advance(TimeDelta::days(366 * 10));
    assert!(retention(&mut app, &notice).await.expired);
    assert!(!retention(&mut app, &form).await.expired);
    assert!(!retention(&mut app, &contract).await.expired);
}

#[tokio::test]
async fn the_appraisal_lists_exactly_what_expired_and_agrees_with_get_retention() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let first = file_typed(&mut app, ACCOUNT, "notice", 1).await;
    app.clock.advance(TimeDelta::days(30));
    let second = file_typed(&mut app, ACCOUNT, "notice", 2).await;
    let form = file_typed(&mut app, ACCOUNT, "application-form", 3).await;
    let expiry = time(&retention(&mut app, &first).await.expire_time);

    // The SQL of the listing and the rule of GetRetention meet at the same microsecond.
    app.clock.set(expiry - TimeDelta::microseconds(1));
    assert!(expired(&mut app, "1201", "").await.is_empty());
    app.clock.set(expiry);
    assert_eq!(expired(&mut app, "1201", "").await, vec![first.clone()]);

    app.clock.advance(TimeDelta::days(31));
    assert_eq!(
        expired(&mut app, "12", "").await,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(expired(&mut app, "120101", "notice").await.len(), 2);
    assert!(
        expired(&mut app, "120101", "application-form")
            .await
            .is_empty()
    );
    assert!(
        expired(&mut app, "1202", "").await.is_empty(),
        "another unit's subtree"
    );

    // Paged, soonest expired first.
    let mut retention_client = app.clients_as(&Token::custodian()).retention;
    let page = retention_client
        .list_expired_documents(pb::ListExpiredDocumentsRequest {
            org_unit_code: "1201".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.documents[0].document, first);
    assert_eq!(page.documents[0].page_count, 1);
    let next = retention_client
        .list_expired_documents(pb::ListExpiredDocumentsRequest {
            org_unit_code: "1201".into(),
            page_size: 1,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.documents[0].document, second);
    assert!(next.next_page_token.is_empty());

    // A hold takes a document out of the appraisal.
    app.clients_as(&Token::custodian())
        .retention
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: second.clone(),
            reason: "dispute 2036-17".into(),
        })
        .await
        .unwrap();
    assert_eq!(expired(&mut app, "1201", "").await, vec![first]);
    let _ = form;
}

#[tokio::test]
async fn holds_are_placed_listed_and_released_with_who_and_why() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_typed(&mut app, ACCOUNT, "notice", 1).await;
    let mut custodian = app.clients_as(&Token::custodian()).retention;

    let on_account = custodian
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: format!("customers/{ACCOUNT}"),
            reason: "court order 17".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on_account.target, format!("customers/{ACCOUNT}"));
    assert_eq!(on_account.placed_by, "archive-desk/tester");
    let on_document = custodian
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: notice.clone(),
            reason: "audit query".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let held = retention(&mut app, &notice).await;
    assert_eq!(held.legal_holds.len(), 2, "both holds cover the document");

    let released = custodian
        .release_legal_hold(pb::ReleaseLegalHoldRequest {
            name: on_account.name.clone(),
            reason: "case closed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.release_reason, "case closed");
    assert!(released.release_time.is_some());
    let again = custodian
        .release_legal_hold(pb::ReleaseLegalHoldRequest {
            name: on_account.name.clone(),
            reason: "twice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    let in_force = |show_released| pb::ListLegalHoldsRequest {
        parent: format!("customers/{ACCOUNT}"),
        show_released,
    };
    let holds = custodian
        .list_legal_holds(in_force(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(holds.legal_holds.len(), 1);
    assert_eq!(holds.legal_holds[0].name, on_document.name);
    let all = custodian
        .list_legal_holds(in_force(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.legal_holds.len(), 2);
    assert_eq!(
        retention(&mut app, &notice).await.legal_holds,
        vec![on_document.name]
    );
}

#[tokio::test]
async fn bad_retention_requests_are_refused_with_the_field_named() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let notice = file_typed(&mut app, ACCOUNT, "notice", 1).await;
    let mut custodian = app.clients_as(&Token::custodian()).retention;

    let no_reason = custodian
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: notice.clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert!(
        no_reason.message().starts_with("reason:"),
        "{}",
        no_reason.message()
    );

    let bad_parent = custodian
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: "accounts/1".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_parent.code(), Code::InvalidArgument);
    assert!(bad_parent.message().starts_with("parent:"));

    let unknown_hold = custodian
        .release_legal_hold(pb::ReleaseLegalHoldRequest {
            name: format!("customers/{ACCOUNT}/legalHolds/{}", uuid::Uuid::now_v7()),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_hold.code(), Code::NotFound);

    let no_unit = custodian
        .list_expired_documents(pb::ListExpiredDocumentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(no_unit.code(), Code::InvalidArgument);
    assert!(no_unit.message().starts_with("org_unit_code:"));

    let outside = custodian
        .list_expired_documents(pb::ListExpiredDocumentsRequest {
            org_unit_code: "13".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(outside.code(), Code::PermissionDenied);

    let clerk = app
        .clients_as(&Token::new("marketing", "counter-clerk", Some("1201")))
        .retention
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: notice,
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(clerk.code(), Code::PermissionDenied);
}
