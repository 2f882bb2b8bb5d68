//! The audit trail under attack and failure: an event the database refuses does not stop the
//! trail, health shows when the trail cannot be written, caller-chosen text is bounded, a
//! listing is recorded in stable words with its account, a flood of unauthenticated calls
//! costs a few counted rows, and deleting the newest events (or all) shows against the last
//! checkpoint.

use std::time::Duration;

use custodian::proto::v1 as pb;
use custodian::settings::Settings;
use custodian::startup::App;
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use sqlx::Connection;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{TestApp, TestConfig, Token, lift_trail_guard, spawn_app, spawn_app_with};

const ACCOUNT: &str = "1200000001";

async fn connect(app: &TestApp) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap()
}

/// One stored event's columns.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    person: String,
    action: String,
    resource: String,
    account: Option<String>,
    outcome: String,
    request_id: String,
    details: Option<String>,
}

async fn rows(db: &mut sqlx::PgConnection) -> Vec<Row> {
    sqlx::query_as(
        "SELECT person, action, resource, account, outcome, request_id, details
         FROM audit_events ORDER BY seq",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

/// Polls the stored events until `done` holds of them, for at most ten seconds.
async fn rows_until(app: &TestApp, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let mut db = connect(app).await;
    for _ in 0..100 {
        let rows = rows(&mut db).await;
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = rows(&mut db).await;
    panic!("the audit trail never got there: {rows:#?}");
}

fn get(account: &str, request_id: &str) -> tonic::Request<pb::GetCustomerRequest> {
    let mut request = tonic::Request::new(pb::GetCustomerRequest {
        name: format!("customers/{account}"),
    });
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    request
}

fn details(row: &Row) -> serde_json::Value {
    serde_json::from_str(row.details.as_deref().unwrap_or("null")).unwrap()
}

async fn verify(app: &mut TestApp) -> pb::VerifyAuditChainResponse {
    app.audit
        .verify_audit_chain(pb::VerifyAuditChainRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn health(app: &TestApp) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the health service always answers")
        .into_inner()
        .status()
}

/// Polls health until it reports `wanted`, for at most ten seconds.
async fn health_becomes(app: &TestApp, wanted: ServingStatus) -> ServingStatus {
    let mut status = health(app).await;
    for _ in 0..100 {
        if status == wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = health(app).await;
    }
    status
}

#[tokio::test]
async fn a_token_whose_sub_holds_a_nul_byte_does_not_stop_auditing() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut poisoned = Token::custodian();
    poisoned.person = Some("clerk\u{0}7\u{202E}".into());
    app.clients_as(&poisoned)
        .customers
        .get_customer(get(ACCOUNT, "nul-sub"))
        .await
        .unwrap();
    app.customers
        .get_customer(get(ACCOUNT, "after-nul"))
        .await
        .unwrap();

    let rows = rows_until(&app, |rows| {
        rows.iter().any(|r| r.request_id == "after-nul")
            && rows.iter().any(|r| r.request_id == "nul-sub")
    })
    .await;
    let poison = rows.iter().find(|r| r.request_id == "nul-sub").unwrap();
    assert_eq!(
        poison.person, "clerk\u{FFFD}7\u{FFFD}",
        "recorded sanitised"
    );
    assert_eq!(
        (poison.action.as_str(), poison.outcome.as_str()),
        ("GetCustomer", "ok")
    );
    let chain = verify(&mut app).await;
    assert!(chain.intact, "{chain:?}");
}

#[tokio::test]
async fn an_event_the_database_refuses_is_isolated_and_still_recorded() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut db = connect(&app).await;
    // The database refuses one person's events as a data exception (class 22), whatever form.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.person = 'poison' THEN
                 RAISE EXCEPTION 'poison' USING ERRCODE = '22023';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let mut poisoned = Token::custodian();
    poisoned.person = Some("poison".into());
    let poisoned = app.clients_as(&poisoned);
    // Several calls at once, so that the refused event shares its batch with others.
    let calls = (0..20).map(|i| {
        let mut customers = if i == 7 {
            poisoned.customers.clone()
        } else {
            app.customers.clone()
        };
        async move {
            customers
                .get_customer(get(ACCOUNT, &format!("call-{i}")))
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }

    let rows = rows_until(&app, |rows| {
        (0..20).all(|i| rows.iter().any(|r| r.request_id == format!("call-{i}")))
    })
    .await;
    let recorded = rows.iter().find(|r| r.request_id == "call-7").unwrap();
    assert_eq!(
        recorded.person, "-",
        "the placeholder names nobody in clear"
    );
    assert_eq!(recorded.action, "GetCustomer");
    assert_eq!(recorded.resource, "unrecordable-event");
    let details = details(recorded);
    assert!(
        details["unrecordable"].as_str().unwrap().contains("22023"),
        "{details}"
    );
    assert_eq!(
        details["person_sha256"],
        hex::encode(sha2::Sha256::digest(b"poison")),
        "the person can be confirmed by a guess"
    );
    for row in rows
        .iter()
        .filter(|r| r.request_id.starts_with("call-") && r.request_id != "call-7")
    {
        assert_eq!(row.person, "tester");
    }
    let chain = verify(&mut app).await;
    assert!(chain.intact, "{chain:?}");
}

#[tokio::test]
async fn health_is_not_serving_while_the_audit_trail_cannot_be_written() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    assert_eq!(
        health_becomes(&app, ServingStatus::Serving).await,
        ServingStatus::Serving
    );
    let mut db = connect(&app).await;
    // Not the events' fault: every insert fails (P0001), as with a full disk or lost grants.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the trail is read-only'; END $$;
         CREATE TRIGGER refuse_all BEFORE INSERT ON audit_events
             FOR EACH ROW EXECUTE FUNCTION refuse_all();",
    )
    .execute(&mut db)
    .await
    .unwrap();
    app.customers
        .get_customer(get(ACCOUNT, "during-outage"))
        .await
        .unwrap();
    assert_eq!(
        health_becomes(&app, ServingStatus::NotServing).await,
        ServingStatus::NotServing
    );

    sqlx::raw_sql("DROP TRIGGER refuse_all ON audit_events")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        health_becomes(&app, ServingStatus::Serving).await,
        ServingStatus::Serving
    );
    // The event waited and was written as it was: not sanitised, not dropped.
    let rows = rows_until(&app, |rows| {
        rows.iter().any(|r| r.request_id == "during-outage")
    })
    .await;
    let kept = rows
        .iter()
        .find(|r| r.request_id == "during-outage")
        .unwrap();
    assert_eq!(kept.person, "tester");
    assert_eq!(kept.resource, format!("customers/{ACCOUNT}"));
    let chain = verify(&mut app).await;
    assert!(chain.intact, "{chain:?}");
}

#[tokio::test]
async fn a_huge_person_filter_is_refused_and_its_record_is_bounded() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    // A listing the caller may make, but for its filter.
    let huge = "x".repeat(1 << 20);
    let refused = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            person: huge.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("person"),
        "{}",
        refused.message()
    );
    let refused = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            action: "Get\u{0}Customer".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");

    let rows = rows_until(&app, |rows| {
        rows.iter()
            .filter(|r| r.action == "ListAuditEvents" && r.outcome == "invalid_argument")
            .count()
            == 2
    })
    .await;
    let listings: Vec<&Row> = rows
        .iter()
        .filter(|r| r.action == "ListAuditEvents")
        .collect();
    for row in &listings {
        assert!(row.resource.len() <= 2048, "{} bytes", row.resource.len());
        assert!(!row.resource.contains('\u{0}'));
    }
    assert!(
        listings[0]
            .resource
            .starts_with(&format!("auditEvents?account={ACCOUNT}&person=xxx"))
    );
    assert!(listings[0].resource.ends_with('…'), "marked as cut");
    assert_eq!(
        listings[1].resource,
        format!("auditEvents?account={ACCOUNT}&action=Get%00Customer")
    );
    let mut db = connect(&app).await;
    let longest: i32 = sqlx::query_scalar(
        "SELECT max(octet_length(resource) + octet_length(person) + octet_length(action)
                    + coalesce(octet_length(details), 0))
         FROM audit_events",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(longest < 4096, "a row of {longest} bytes");
}

#[tokio::test]
async fn a_filtered_listing_is_recorded_in_stable_words_with_its_account() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    app.audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            person: "tester".into(),
            action: "CreateCustomer".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let rows = rows_until(&app, |rows| {
        rows.iter().any(|r| r.action == "ListAuditEvents")
    })
    .await;
    let listing = rows.iter().find(|r| r.action == "ListAuditEvents").unwrap();
    assert_eq!(
        listing.resource,
        format!("auditEvents?account={ACCOUNT}&person=tester&action=CreateCustomer")
    );
    assert_eq!(listing.account.as_deref(), Some(ACCOUNT));

    // So the account's own trail shows who read it.
    let trail = app
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: ACCOUNT.into(),
            action: "ListAuditEvents".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].person, "tester");
}

#[tokio::test]
async fn an_unknown_document_type_is_named_by_its_code() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut header = crate::helpers::header(ACCOUNT, "unknown-type");
    header.document_type = "no-such-type".into();
    let refused = app
        .file(crate::helpers::filing(
            header,
            &[crate::helpers::jpeg_page(100, 1)],
            100,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("document type no-such-type is not in the catalog"),
        "{}",
        refused.message()
    );
    assert!(!refused.message().contains("DocumentTypeCode"));
}

#[tokio::test]
async fn a_burst_of_unauthenticated_calls_from_one_peer_leaves_a_few_counted_events() {
    let app = spawn_app().await;
    let anonymous = app.clients(None);
    let calls = (0..200).map(|i| {
        let mut customers = anonymous.customers.clone();
        async move {
            customers
                .get_customer(get(ACCOUNT, &format!("anon-{i}")))
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap_err().code(), Code::Unauthenticated);
    }
    let count = |rows: &[Row]| -> u64 {
        rows.iter()
            .filter(|r| r.outcome == "unauthenticated")
            .map(|r| details(r)["count"].as_u64().unwrap_or(0))
            .sum()
    };
    let rows = rows_until(&app, |rows| count(rows) >= 200).await;
    assert_eq!(count(&rows), 200, "every refusal is counted once");
    let refusals: Vec<&Row> = rows
        .iter()
        .filter(|r| r.outcome == "unauthenticated")
        .collect();
    assert!(
        refusals.len() <= 10,
        "{} events for one burst",
        refusals.len()
    );
    for refusal in refusals {
        let details = details(refusal);
        assert_eq!(details["peer"], "127.0.0.1");
        assert!(details["reason"].as_str().unwrap().contains("bearer token"));
        assert_eq!(refusal.action, "GetCustomer");
    }
}

#[tokio::test]
async fn deleting_the_newest_events_or_all_shows_against_the_last_checkpoint() {
    let mut first = spawn_app().await;
    first.create_customer(ACCOUNT).await;
    for i in 0..5 {
        first
            .customers
            .get_customer(get(ACCOUNT, &format!("read-{i}")))
            .await
            .unwrap();
    }
    // Stopping writes the queued events, then a checkpoint of the head they reach.
    first.begin_stop();
    first.wait_stopped().await.unwrap();
    // Perhaps one at start too, if the first event was in by then.
    let keys = first.object_keys("audit-checkpoints").await;
    assert!(!keys.is_empty() && keys.len() <= 2, "{keys:?}");
    let mut db = connect(&first).await;
    let head: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_events")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let newest = keys.last().unwrap();
    assert!(newest.ends_with(&format!("{head:020}.json")), "{keys:?}");

    let mut second = spawn_app_with(TestConfig {
        shared_database: Some(first.database_url.clone()),
        shared_object_prefix: Some(first.object_prefix.clone()),
        ..TestConfig::default()
    })
    .await;
    let intact = verify(&mut second).await;
    assert!(intact.intact, "{intact:?}");
    rows_until(&second, |rows| rows.len() as i64 == head + 1).await;

    lift_trail_guard(&mut db).await;
    sqlx::query("DELETE FROM audit_events WHERE seq > $1")
        .bind(head - 2)
        .execute(&mut db)
        .await
        .unwrap();
    let truncated = verify(&mut second).await;
    assert!(!truncated.intact);
    assert_eq!(truncated.first_broken_seq, head - 1, "{}", truncated.reason);
    assert!(truncated.reason.contains("deleted"), "{}", truncated.reason);
    // Its own event lands on the shortened chain.
    rows_until(&second, |rows| rows.len() as i64 == head - 1).await;

    sqlx::query("DELETE FROM audit_events")
        .execute(&mut db)
        .await
        .unwrap();
    let wiped = verify(&mut second).await;
    assert!(!wiped.intact);
    assert_eq!(wiped.first_broken_seq, 1, "{}", wiped.reason);
    assert!(wiped.reason.contains("wiped"), "{}", wiped.reason);
}

#[tokio::test]
async fn the_server_refuses_a_short_audit_chain_key() {
    let mut settings = Settings::defaults();
    settings.database.url = SecretString::from("postgres://custodian:x@127.0.0.1:1/custodian");
    settings.auth.audit_chain_key = SecretString::from("short-key");
    let Err(error) = App::build(settings).await else {
        panic!("a server with a 9-byte chain key was built");
    };
    assert!(
        format!("{error:#}").contains("at least 32 bytes"),
        "{error:#}"
    );
}

#[tokio::test]
async fn no_statement_may_change_or_remove_an_audit_event() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let mut db = connect(&app).await;
    rows_until(&app, |rows| !rows.is_empty()).await;
    for statement in [
        "UPDATE audit_events SET person = 'someone-else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sqlx::query(statement)
            .execute(&mut db)
            .await
            .expect_err(statement);
        let error = error.as_database_error().expect("the database refuses it");
        assert_eq!(
            error.code().as_deref(),
            Some("42501"),
            "{statement}: {error}"
        );
        assert!(
            error.message().contains("append-only"),
            "{statement}: {error}"
        );
    }
    // Appending goes on.
    app.create_customer("1200000002").await;
    rows_until(&app, |rows| {
        rows.iter()
            .any(|row| row.account.as_deref() == Some("1200000002"))
    })
    .await;
}
