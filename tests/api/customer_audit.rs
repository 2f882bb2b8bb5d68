//! The audit trail of customers' openings and changes names the fields set and keeps their
//! personal values masked: no ID number, phone, address or household's name in plaintext.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;

use crate::helpers::{spawn_app, update_customer};

const ACCOUNT: &str = "1201000042";

/// The personal values of the holder before and after an UpdateCustomer.
const FIRST: [&str; 4] = [
    "张三丰",
    "11010519491231002X",
    "13812345678",
    "天津市河西区友谊路35号",
];
const SECOND: [&str; 4] = [
    "李秀英",
    "120104198807154521",
    "022-23456789",
    "天津市南开区鞍山西道99号",
];

fn customer([name, id_number, phone, address]: [&str; 4]) -> pb::Customer {
    pb::Customer {
        account_number: ACCOUNT.into(),
        display_name: name.into(),
        customer_class: pb::CustomerClass::Residential.into(),
        org_unit_code: "120101".into(),
        id_number: id_number.into(),
        phone: phone.into(),
        address: address.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn customer_changes_leave_no_personal_data_in_the_audit_trail() {
    let mut app = spawn_app().await;
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer(FIRST)),
        })
        .await
        .unwrap();
    // A transfer to a new holder (过户) changes every personal field.
    update_customer(
        &mut app,
        ACCOUNT,
        customer(SECOND),
        &["display_name", "id_number", "phone", "address"],
    )
    .await;
    // Reassignment to another unit and closure: no personal field, none recorded.
    update_customer(
        &mut app,
        ACCOUNT,
        pb::Customer {
            org_unit_code: "120102".into(),
            ..Default::default()
        },
        &["org_unit_code"],
    )
    .await;
    update_customer(
        &mut app,
        ACCOUNT,
        pb::Customer {
            status: pb::CustomerStatus::Closed.into(),
            ..Default::default()
        },
        &["status"],
    )
    .await;

    // The stored trail, every column of every event, holds none of the values.
    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    let mut rows: Vec<String> = Vec::new();
    for _ in 0..50 {
        rows = sqlx::query_scalar("SELECT row_to_json(e)::text FROM audit_events e ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .unwrap();
        if rows
            .iter()
            .filter(|row| row.contains("UpdateCustomer"))
            .count()
            == 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trail = rows.join("\n");
    for raw in FIRST.iter().chain(&SECOND) {
        assert!(
            !trail.contains(raw),
            "{raw} is in the audit trail:\n{trail}"
        );
    }
    // The values are where they belong: the customer's own row and its revisions.
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer_revisions WHERE account_number = $1 AND id_number = $2",
    )
    .bind(ACCOUNT)
    .bind(FIRST[1])
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(kept >= 1);

    // A role that sees personal data in full reads the field names and the masked forms.
    let events = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let details = |action: &str| -> Vec<serde_json::Value> {
        events
            .iter()
            .filter(|e| e.action == action)
            .map(|e| serde_json::from_str(&e.details).unwrap())
            .collect()
    };
    let created = &details("CreateCustomer")[0];
    assert_eq!(
        created["fields"],
        serde_json::json!([
            "display_name",
            "customer_class",
            "org_unit_code",
            "status",
            "id_number",
            "phone",
            "address"
        ])
    );
    assert_eq!(created["new"]["display_name"], "张**");
    assert_eq!(created["new"]["id_number"], "110***********002X");
    assert_eq!(created["new"]["phone"], "138****5678");
    assert_eq!(created["new"]["address"], "天津市河西区****");
    assert_eq!(created["new"]["org_unit_code"], "120101");

    let updates = details("UpdateCustomer");
    assert_eq!(updates.len(), 3);
    let transfer = updates
        .iter()
        .find(|d| d["fields"].as_array().unwrap().len() == 4)
        .expect("the transfer's event");
    assert_eq!(
        transfer["fields"],
        serde_json::json!(["display_name", "id_number", "phone", "address"])
    );
    assert_eq!(transfer["old"]["id_number"], "110***********002X");
    assert_eq!(transfer["changes"]["id_number"], "120***********4521");
    assert_eq!(transfer["old"]["display_name"], "张**");
    assert_eq!(transfer["changes"]["display_name"], "李**");
    assert_eq!(transfer["changes"]["address"], "天津市南开区****");
    // Only what changed is recorded of the old state.
    assert!(transfer["old"].get("org_unit_code").is_none());
    let moved = updates
        .iter()
        .find(|d| d["fields"] == serde_json::json!(["org_unit_code"]))
        .expect("the reassignment's event");
    assert_eq!(
        (
            &moved["old"]["org_unit_code"],
            &moved["changes"]["org_unit_code"]
        ),
        (&"120101".into(), &"120102".into())
    );
    assert!(moved["old"].get("phone").is_none());
    let closed = updates
        .iter()
        .find(|d| d["fields"] == serde_json::json!(["status"]))
        .expect("the closure's event");
    assert_eq!(closed["changes"]["status"], "closed");
}
