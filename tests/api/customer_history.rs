//! The customer's history: a rename or a class change keeps the earlier revisions, and each
//! document still answers what the account looked like when it was filed.

use chrono::TimeDelta;
use custodian::domain::Clock;
use custodian::proto::v1 as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{TestApp, Token, filing, header, jpeg_page, spawn_app, update_customer};

const ACCOUNT: &str = "1201000001";

async fn update(app: &mut TestApp, customer: pb::Customer, paths: &[&str]) -> pb::Customer {
    update_customer(app, ACCOUNT, customer, paths).await
}

async fn revisions(app: &mut TestApp, page_size: i32) -> Vec<pb::CustomerRevision> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = app
            .customers
            .list_customer_revisions(pb::ListCustomerRevisionsRequest {
                parent: format!("customers/{ACCOUNT}"),
                page_size,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(response.revisions);
        if response.next_page_token.is_empty() {
            return all;
        }
        page_token = response.next_page_token;
    }
}

async fn revision(app: &mut TestApp, name: &str) -> Result<pb::CustomerRevision, tonic::Status> {
    app.customers
        .get_customer_revision(pb::GetCustomerRevisionRequest { name: name.into() })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_rename_and_a_class_change_keep_the_earlier_revisions() {
    let mut app = spawn_app().await;
    let opened_at = app.clock.now();
    let opened = app.create_customer(ACCOUNT).await;
    assert_eq!(opened.revision, 1);
    assert_eq!(
        opened.create_time.as_ref().map(|t| t.seconds),
        Some(opened_at.timestamp()),
        "times come from the server's clock"
    );
    let before_rename = app
        .file(filing(header(ACCOUNT, "before"), &[jpeg_page(500, 1)], 500))
        .await
        .unwrap();
    assert_eq!(before_rename.customer_revision, 1);

    app.clock.advance(TimeDelta::days(400));
    let renamed_at = app.clock.now();
    let renamed = update(
        &mut app,
        pb::Customer {
            display_name: "李四".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_eq!(renamed.revision, 2);
    let after_rename = app
        .file(filing(header(ACCOUNT, "after"), &[jpeg_page(500, 2)], 500))
        .await
        .unwrap();
    assert_eq!(after_rename.customer_revision, 2);

    app.clock.advance(TimeDelta::days(10));
    let mut county = app.clients_as(&Token {
        person: Some("c-042".into()),
        ..Token::new("archive-desk", "county-custodian", Some("120101"))
    });
    let reclassified = county
        .customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: format!("customers/{ACCOUNT}"),
                customer_class: pb::CustomerClass::NonResidential.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["customer_class".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reclassified.revision, 3);

    // Newest first, across pages of one.
    let history = revisions(&mut app, 1).await;
    let numbers: Vec<i32> = history.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [3, 2, 1]);
    let by = |r: &pb::CustomerRevision| r.changed_by.clone();
    assert_eq!(
        history.iter().map(by).collect::<Vec<_>>(),
        [
            "archive-desk/c-042",
            "archive-desk/tester",
            "archive-desk/tester"
        ]
    );
    let name_of = |r: &pb::CustomerRevision| r.customer.as_ref().unwrap().display_name.clone();
    assert_eq!(name_of(&history[2]), opened.display_name);
    assert_eq!(name_of(&history[1]), "李四");
    assert_eq!(
        history[0].customer.as_ref().unwrap().customer_class,
        i32::from(pb::CustomerClass::NonResidential)
    );
    assert_eq!(
        history[1].valid_from.as_ref().map(|t| t.seconds),
        Some(renamed_at.timestamp())
    );
    assert_eq!(history[2].valid_until, history[1].valid_from);
    assert_eq!(history[0].valid_until, None, "the current revision is open");

    // What the account looked like when each document was filed.
    let then = revision(
        &mut app,
        &format!(
            "customers/{ACCOUNT}/revisions/{}",
            before_rename.customer_revision
        ),
    )
    .await
    .unwrap();
    assert_eq!(name_of(&then), opened.display_name);
    assert_eq!(
        then.customer.as_ref().unwrap().customer_class,
        i32::from(pb::CustomerClass::Residential)
    );
    let then = revision(
        &mut app,
        &format!(
            "customers/{ACCOUNT}/revisions/{}",
            after_rename.customer_revision
        ),
    )
    .await
    .unwrap();
    assert_eq!(name_of(&then), "李四");
}

#[tokio::test]
async fn revisions_that_do_not_exist_or_are_out_of_reach_are_not_found() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let status = revision(&mut app, &format!("customers/{ACCOUNT}/revisions/2"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = revision(&mut app, &format!("customers/{ACCOUNT}/revisions/zero"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let mut elsewhere = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("130101"),
    ));
    let status = elsewhere
        .customers
        .list_customer_revisions(pb::ListCustomerRevisionsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_households_name_stays_masked_in_its_revisions_after_it_becomes_a_business() {
    let mut app = spawn_app().await;
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                display_name: "王小明".into(),
                ..crate::helpers::customer(ACCOUNT, "120101")
            }),
        })
        .await
        .unwrap();
    update(
        &mut app,
        pb::Customer {
            display_name: "天津某某商店".into(),
            customer_class: pb::CustomerClass::NonResidential.into(),
            ..Default::default()
        },
        &["display_name", "customer_class"],
    )
    .await;
    let mut inspector = app.clients_as(&Token::new("marketing", "inspector", Some("1201")));
    let history = inspector
        .customers
        .list_customer_revisions(pb::ListCustomerRevisionsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    let names: Vec<String> = history
        .iter()
        .map(|r| r.customer.as_ref().unwrap().display_name.clone())
        .collect();
    assert_eq!(names, ["天津某某商店", "王**"]);
}
