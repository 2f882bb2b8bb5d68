//! The audit trail: one event per call, refusals included; tampering shows at its sequence
//! number; several replicas on one database keep one chain.

use std::time::Duration;

use custodian::proto::v1 as pb;
use prost_types::FieldMask;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, filing, header, jpeg_page, lift_trail_guard, spawn_app,
    spawn_app_with,
};

const ACCOUNT: &str = "1200000001";

async fn connect(app: &TestApp) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap()
}

/// Waits until the batched events are written: `count` rows, for at most five seconds.
async fn events(app: &TestApp, count: usize) -> Vec<(i64, String, String, String, String)> {
    let mut db = connect(app).await;
    for _ in 0..50 {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT seq, action, outcome, person, resource FROM audit_events ORDER BY seq",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        if rows.len() >= count {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} audit events were written");
}

async fn verify(app: &mut TestApp) -> pb::VerifyAuditChainResponse {
    app.audit
        .verify_audit_chain(pb::VerifyAuditChainRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Makes one call of every kind, two refusals and one unauthenticated call.
async fn one_of_each(app: &mut TestApp) {
    let document = app.create_customer(ACCOUNT).await; // CreateCustomer
    assert_eq!(document.name, format!("customers/{ACCOUNT}"));
    let name = format!("customers/{ACCOUNT}");
    app.customers
        .get_customer(pb::GetCustomerRequest { name: name.clone() })
        .await
        .unwrap();
    app.customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: name.clone(),
                phone: "13812345678".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["phone".into()],
            }),
        })
        .await
        .unwrap();
    app.customers
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap();
    let filed = app
        .file(filing(header(ACCOUNT, "a1"), &[jpeg_page(100, 1)], 100))
        .await
        .unwrap();
    app.documents
        .get_document(pb::GetDocumentRequest {
            name: filed.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.documents
        .list_documents(pb::ListDocumentsRequest {
            parent: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.read_page(&filed.pages[0].name).await.unwrap();
    app.document_types
        .list_document_types(pb::ListDocumentTypesRequest {})
        .await
        .unwrap();
    // A refusal by policy, and one for a missing resource.
    let mut clerk = app.clients_as(&Token::new(
        "payment-channel",
        "payment-channel",
        Some("12"),
    ));
    let denied = clerk
        .documents
        .file_document(futures::stream::iter(filing(
            header(ACCOUNT, "x"),
            &[jpeg_page(100, 2)],
            100,
        )))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let missing = app
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/1299999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let anonymous = app
        .clients(None)
        .customers
        .get_customer(pb::GetCustomerRequest { name })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn each_call_leaves_exactly_its_event() {
    let mut app = spawn_app().await;
    one_of_each(&mut app).await;

    let mut recorded: Vec<(String, String)> = events(&app, 12)
        .await
        .into_iter()
        .map(|(_, action, outcome, _, _)| (action, outcome))
        .collect();
    recorded.sort();
    let mut expected: Vec<(String, String)> = [
        ("CreateCustomer", "ok"),
        ("GetCustomer", "ok"),
        ("UpdateCustomer", "ok"),
        ("ListCustomers", "ok"),
        ("FileDocument", "ok"),
        ("GetDocument", "ok"),
        ("ListDocuments", "ok"),
        ("ReadPage", "ok"),
        ("ListDocumentTypes", "ok"),
        ("FileDocument", "permission_denied"),
        ("GetCustomer", "not_found"),
        ("GetCustomer", "unauthenticated"),
    ]
    .into_iter()
    .map(|(a, o)| (a.to_string(), o.to_string()))
    .collect();
    expected.sort();
    assert_eq!(recorded, expected);

    // Changes carry the fields changed with their old and new values (personal ones masked:
    // see customer_audit.rs); the trail is queryable by account and action.
    let updates = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            action: "UpdateCustomer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(
        (update.system.as_str(), update.person.as_str()),
        ("archive-desk", "tester")
    );
    assert_eq!(update.resource, format!("customers/{ACCOUNT}"));
    let details: serde_json::Value = serde_json::from_str(&update.details).unwrap();
    assert_eq!(details["fields"], serde_json::json!(["phone"]));
    assert_eq!(details["changes"]["phone"], "138****5678");
    assert!(details["old"]["phone"].is_null());

    let chain = verify(&mut app).await;
    assert!(chain.intact, "{chain:?}");
    assert!(chain.events_checked >= 12);
}

#[tokio::test]
async fn an_edited_or_deleted_audit_row_is_found_at_its_sequence() {
    let mut app = spawn_app().await;
    one_of_each(&mut app).await;
    events(&app, 12).await;
    let mut db = connect(&app).await;

    lift_trail_guard(&mut db).await;
    sqlx::query("UPDATE audit_events SET person = 'someone-else' WHERE seq = 4")
        .execute(&mut db)
        .await
        .unwrap();
    let chain = verify(&mut app).await;
    assert!(!chain.intact);
    assert_eq!(chain.first_broken_seq, 4, "{}", chain.reason);
    assert!(chain.reason.contains("edited"), "{}", chain.reason);

    let mut app2 = spawn_app().await;
    one_of_each(&mut app2).await;
    events(&app2, 12).await;
    let mut db2 = connect(&app2).await;
    lift_trail_guard(&mut db2).await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 7")
        .execute(&mut db2)
        .await
        .unwrap();
    let chain = verify(&mut app2).await;
    assert_eq!(chain.first_broken_seq, 7, "{}", chain.reason);

    // Reordering: swap the content of two rows, hashes and all.
    let mut app3 = spawn_app().await;
    one_of_each(&mut app3).await;
    events(&app3, 12).await;
    let mut db3 = connect(&app3).await;
    lift_trail_guard(&mut db3).await;
    sqlx::raw_sql(
        "UPDATE audit_events SET seq = CASE seq WHEN 5 THEN 1000006 ELSE 1000005 END
             WHERE seq IN (5, 6);
         UPDATE audit_events SET seq = seq - 1000000 WHERE seq > 1000000",
    )
    .execute(&mut db3)
    .await
    .unwrap();
    let chain = verify(&mut app3).await;
    assert_eq!(chain.first_broken_seq, 5, "{}", chain.reason);
}

#[tokio::test]
async fn several_servers_on_one_database_keep_a_single_chain() {
    let mut first = spawn_app().await;
    first.create_customer(ACCOUNT).await;
    let mut replicas = vec![first];
    for _ in 0..2 {
        let shared = replicas[0].database_url.clone();
        replicas.push(
            spawn_app_with(TestConfig {
                shared_database: Some(shared),
                ..TestConfig::default()
            })
            .await,
        );
    }
    let calls = replicas.iter().enumerate().flat_map(|(r, app)| {
        (0..20).map(move |i| {
            let mut customers = app.customers.clone();
            let mut documents = app.documents.clone();
            async move {
                if i % 5 == 0 {
                    let messages = filing(
                        header(ACCOUNT, &format!("r{r}-{i}")),
                        &[jpeg_page(200, i)],
                        200,
                    );
                    documents
                        .file_document(futures::stream::iter(messages))
                        .await
                        .map(|_| ())
                } else {
                    customers
                        .get_customer(pb::GetCustomerRequest {
                            name: format!("customers/{ACCOUNT}"),
                        })
                        .await
                        .map(|_| ())
                }
            }
        })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    // 1 creation + 3 replicas × 20 calls.
    let rows = events(&replicas[0], 61).await;
    assert_eq!(rows.len(), 61);
    let seqs: Vec<i64> = rows.iter().map(|row| row.0).collect();
    assert_eq!(seqs, (1..=61).collect::<Vec<_>>(), "no gaps, no duplicates");
    let chain = verify(&mut replicas[2]).await;
    assert!(chain.intact, "{chain:?}");
    assert_eq!(chain.events_checked, 61);
}
