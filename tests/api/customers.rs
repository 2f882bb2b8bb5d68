//! Opening, reading, changing and listing customers.

use custodian::proto::v1 as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{customer, spawn_app};

#[tokio::test]
async fn a_created_customer_can_be_read_back_by_account_number() {
    let mut app = spawn_app().await;
    let created = app.create_customer("1200000001").await;
    assert_eq!(created.name, "customers/1200000001");
    assert_eq!(created.status(), pb::CustomerStatus::Active);
    assert!(created.create_time.is_some());

    let fetched = app
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/1200000001".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn a_duplicate_account_number_is_already_exists() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    let status = app
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer("1200000001", "1201")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains("customers/1200000001"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn malformed_customers_are_rejected_with_the_field_named() {
    let mut app = spawn_app().await;
    let cases = [
        (customer("12ab567890", "1201"), "customer.account_number"),
        (customer("123", "1201"), "customer.account_number"),
        (customer("1200000001", "123"), "customer.org_unit_code"),
        (
            pb::Customer {
                display_name: "  ".into(),
                ..customer("1200000001", "1201")
            },
            "customer.display_name",
        ),
        (
            pb::Customer {
                customer_class: 0,
                ..customer("1200000001", "1201")
            },
            "customer.customer_class",
        ),
        (
            pb::Customer {
                customer_class: 42,
                ..customer("1200000001", "1201")
            },
            "customer.customer_class",
        ),
    ];
    for (customer, field) in cases {
        let status = app
            .customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(status.message().starts_with(field), "{}", status.message());
    }
}

#[tokio::test]
async fn an_unknown_account_is_not_found_and_a_malformed_one_is_invalid() {
    let mut app = spawn_app().await;
    let unknown = app
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/1299999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    for name in ["customers/12x", "1299999999", "accounts/1299999999", ""] {
        let malformed = app
            .customers
            .get_customer(pb::GetCustomerRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_eq!(malformed.code(), Code::InvalidArgument, "{name:?}");
    }
}

#[tokio::test]
async fn an_update_changes_only_the_fields_in_the_mask() {
    let mut app = spawn_app().await;
    let created = app.create_customer("1200000001").await;
    let updated = app
        .customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: "customers/1200000001".into(),
                display_name: "天津某某有限公司".into(),
                customer_class: pb::CustomerClass::NonResidential.into(),
                org_unit_code: "9999".into(),
                status: pb::CustomerStatus::Closed.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into(), "status".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "天津某某有限公司");
    assert_eq!(updated.status(), pb::CustomerStatus::Closed);
    assert_eq!(
        updated.customer_class, created.customer_class,
        "not in the mask"
    );
    assert_eq!(
        updated.org_unit_code, created.org_unit_code,
        "not in the mask"
    );
    let time = |t: Option<prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
    assert!(time(updated.update_time) >= time(created.update_time));
}

#[tokio::test]
async fn an_update_without_a_mask_or_with_an_immutable_field_is_rejected() {
    let mut app = spawn_app().await;
    app.create_customer("1200000001").await;
    for paths in [
        vec![],
        vec!["account_number".to_string()],
        vec!["nonsense".into()],
    ] {
        let status = app
            .customers
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(pb::Customer {
                    name: "customers/1200000001".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: paths.clone(),
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{paths:?}");
    }
    let unknown = app
        .customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: "customers/1299999999".into(),
                display_name: "x".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn listing_by_org_unit_includes_the_units_below_it_and_pages_in_account_order() {
    let mut app = spawn_app().await;
    let units = ["120101", "120102", "1202", "120201"];
    for i in 0..20u32 {
        let unit = units[i as usize % units.len()];
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(&format!("{:010}", 1_000 + i), unit)),
            })
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = app
            .customers
            .list_customers(pb::ListCustomersRequest {
                org_unit_code: "1201".into(),
                page_size: 3,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(response.customers.len() <= 3);
        seen.extend(response.customers);
        if response.next_page_token.is_empty() {
            break;
        }
        page_token = response.next_page_token;
    }
    // Units 120101 and 120102 lie below city 1201; 1202 and 120201 do not.
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|c| c.org_unit_code.starts_with("1201")));
    let accounts: Vec<&str> = seen.iter().map(|c| c.account_number.as_str()).collect();
    let mut sorted = accounts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(accounts, sorted, "in account order, without repeats");

    let everyone = app
        .customers
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everyone.customers.len(), 20);
    assert!(everyone.next_page_token.is_empty());
}

#[tokio::test]
async fn a_page_token_is_refused_with_another_filter() {
    let mut app = spawn_app().await;
    for i in 0..3u32 {
        app.create_customer(&format!("{:010}", 1_000 + i)).await;
    }
    let first = app
        .customers
        .list_customers(pb::ListCustomersRequest {
            org_unit_code: "1201".into(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let status = app
        .customers
        .list_customers(pb::ListCustomersRequest {
            org_unit_code: "1202".into(),
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
