//! SearchCustomers: Chinese substring search of names and addresses, ID numbers and phones
//! through the blind index (and nowhere in plaintext outside the customer's own rows), former
//! holders, who may search by what, masked results, and the backfill at startup.

use std::time::Duration;

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::{
    TestApp, TestConfig, Token, customer, spawn_app, spawn_app_with, update_customer,
};

const ZHANG_SAN: &str = "1201010001";
const ZHANG_SANFENG: &str = "1201010002";
const LI_SI: &str = "1201020003";
const GRID: &str = "1201020004";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";

async fn open(
    app: &mut TestApp,
    account: &str,
    name: &str,
    class: pb::CustomerClass,
    address: &str,
    id_number: &str,
    phone: &str,
) {
    let unit = if account.starts_with("120101") {
        "120101"
    } else {
        "120102"
    };
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                display_name: name.into(),
                customer_class: class.into(),
                address: address.into(),
                id_number: id_number.into(),
                phone: phone.into(),
                ..customer(account, unit)
            }),
        })
        .await
        .unwrap();
}

/// 张三 and 张三丰 in 河西区, 李四 in 和平区, and a business.
async fn people(app: &mut TestApp) {
    use pb::CustomerClass::{NonResidential, Residential};
    open(
        app,
        ZHANG_SAN,
        "张三",
        Residential,
        "天津市河西区友谊路12号",
        ID_NUMBER,
        PHONE,
    )
    .await;
    open(
        app,
        ZHANG_SANFENG,
        "张三丰",
        Residential,
        "天津市河西区围堤道5号",
        "120101195803020011",
        "13900001111",
    )
    .await;
    open(
        app,
        LI_SI,
        "李四",
        Residential,
        "天津市和平区南京路100号",
        "",
        "022-23456789",
    )
    .await;
    open(
        app,
        GRID,
        "国网天津市电力公司",
        NonResidential,
        "天津市河北区五经路39号",
        "",
        "",
    )
    .await;
}

async fn found(
    app: &TestApp,
    token: &Token,
    request: pb::SearchCustomersRequest,
) -> Result<Vec<pb::CustomerMatch>, tonic::Status> {
    let mut client = app.clients_as(token).search;
    let mut request = pb::SearchCustomersRequest {
        page_size: 2,
        ..request
    };
    let mut all = Vec::new();
    loop {
        let page = client.search_customers(request.clone()).await?.into_inner();
        all.extend(page.customers);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
}

fn accounts(matches: &[pb::CustomerMatch]) -> Vec<String> {
    matches
        .iter()
        .map(|m| m.customer.as_ref().unwrap().account_number.clone())
        .collect()
}

#[tokio::test]
async fn chinese_names_and_addresses_are_found_by_any_part_of_two_characters_or_more() {
    let mut app = spawn_app().await;
    people(&mut app).await;
    let custodian = Token::custodian();
    let cases = [
        (
            "张三 finds both",
            pb::SearchCustomersRequest {
                name: "张三".into(),
                ..Default::default()
            },
            vec![ZHANG_SAN, ZHANG_SANFENG],
        ),
        (
            "a given name",
            pb::SearchCustomersRequest {
                name: "三丰".into(),
                ..Default::default()
            },
            vec![ZHANG_SANFENG],
        ),
        (
            "a business",
            pb::SearchCustomersRequest {
                name: "电力".into(),
                ..Default::default()
            },
            vec![GRID],
        ),
        (
            "a district",
            pb::SearchCustomersRequest {
                address: "天津市河西区".into(),
                ..Default::default()
            },
            vec![ZHANG_SAN, ZHANG_SANFENG],
        ),
        (
            "a street",
            pb::SearchCustomersRequest {
                address: "河西区友谊路".into(),
                ..Default::default()
            },
            vec![ZHANG_SAN],
        ),
        (
            "name and address",
            pb::SearchCustomersRequest {
                name: "张三".into(),
                address: "围堤道".into(),
                ..Default::default()
            },
            vec![ZHANG_SANFENG],
        ),
        (
            "a prefix",
            pb::SearchCustomersRequest {
                account_number_prefix: "120102".into(),
                ..Default::default()
            },
            vec![LI_SI, GRID],
        ),
        (
            "prefix and name",
            pb::SearchCustomersRequest {
                account_number_prefix: "120101".into(),
                name: "三丰".into(),
                ..Default::default()
            },
            vec![ZHANG_SANFENG],
        ),
        (
            "nobody",
            pb::SearchCustomersRequest {
                name: "王五".into(),
                ..Default::default()
            },
            vec![],
        ),
        // Bigrams of the query that are all present, but not next to each other.
        (
            "not a substring",
            pb::SearchCustomersRequest {
                name: "三张".into(),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (what, request, want) in cases {
        let got = found(&app, &custodian, request).await.unwrap();
        assert_eq!(accounts(&got), want, "{what}");
    }
    for request in [
        pb::SearchCustomersRequest {
            name: "张".into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            org_unit: "12".into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            account_number_prefix: "12a".into(),
            ..Default::default()
        },
    ] {
        let status = found(&app, &custodian, request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
    }
    // Out of reach: a county custodian of 120102 does not find the households of 120101.
    let county = Token::new("archive-desk", "county-custodian", Some("120102"));
    let got = found(
        &app,
        &county,
        pb::SearchCustomersRequest {
            name: "张三".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn an_id_number_or_phone_is_found_through_the_blind_index_only() {
    let mut app = spawn_app().await;
    people(&mut app).await;
    let clerk = Token::new("marketing", "counter-clerk", Some("1201"));
    for request in [
        pb::SearchCustomersRequest {
            id_number: "11010519491231002x".into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            phone: "+86 138 1234 5678".into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            id_number: ID_NUMBER.into(),
            phone: PHONE.into(),
            ..Default::default()
        },
    ] {
        let got = found(&app, &clerk, request.clone()).await.unwrap();
        assert_eq!(accounts(&got), vec![ZHANG_SAN], "{request:?}");
        assert!(!got[0].former_holder);
        // The clerk sees personal data in full.
        assert_eq!(got[0].customer.as_ref().unwrap().id_number, ID_NUMBER);
    }
    let landline = found(
        &app,
        &clerk,
        pb::SearchCustomersRequest {
            phone: "02223456789".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(accounts(&landline), vec![LI_SI]);
    // Another holder's phone with this ID number matches nobody.
    let mixed = found(
        &app,
        &clerk,
        pb::SearchCustomersRequest {
            id_number: ID_NUMBER.into(),
            phone: "13900001111".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(mixed.is_empty());

    let mut db = sqlx::PgConnection::connect(app.database_url.expose_secret())
        .await
        .unwrap();
    // No index is over the identifier columns...
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    for definition in &indexes {
        assert!(
            !definition.contains("id_number") && !definition.contains("phone"),
            "{definition}"
        );
    }
    // ...and no table but the customer's own rows and revisions holds the raw values: every
    // other table's rows, as text, are searched for them. (The audit trail's events of the
    // customer's own creation are the customer's record of change; the search events are
    // checked below.)
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
           AND tablename NOT IN ('customers', 'customer_revisions', 'audit_events')",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(tables.contains(&"customer_identifier_digests".to_owned()));
    for table in tables {
        let hits: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{table}\" t WHERE t::text LIKE '%' || $1 || '%' OR t::text LIKE '%' || $2 || '%'"
        ))
        .bind(ID_NUMBER)
        .bind(PHONE)
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!(hits, 0, "table {table} holds a raw identifier");
    }
    // The search events keep the filters masked.
    let started = std::time::Instant::now();
    let details = loop {
        let details: Vec<String> = sqlx::query_scalar(
            "SELECT details FROM audit_events
             WHERE action = 'SearchCustomers' AND details IS NOT NULL",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        if details.len() >= 5 {
            break details;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the search events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for event in &details {
        assert!(
            !event.contains(ID_NUMBER) && !event.contains(PHONE),
            "{event}"
        );
        assert!(!event.contains("11010519491231002x"), "{event}");
    }
    assert!(
        details
            .iter()
            .any(|event| event.contains("110***********002X"))
    );
}

#[tokio::test]
async fn roles_without_the_permission_may_not_search_personal_fields_and_see_results_masked() {
    let mut app = spawn_app().await;
    people(&mut app).await;
    let inspector = Token::new("marketing", "inspector", Some("1201"));
    for request in [
        pb::SearchCustomersRequest {
            id_number: ID_NUMBER.into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            phone: PHONE.into(),
            ..Default::default()
        },
        pb::SearchCustomersRequest {
            address: "河西区".into(),
            ..Default::default()
        },
    ] {
        let status = found(&app, &inspector, request).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    // A household's name is personal: not found. A business's is public.
    assert!(
        found(
            &app,
            &inspector,
            pb::SearchCustomersRequest {
                name: "张三".into(),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
    let business = found(
        &app,
        &inspector,
        pb::SearchCustomersRequest {
            name: "国网".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        business[0].customer.as_ref().unwrap().display_name,
        "国网天津市电力公司"
    );
    // A prefix search finds households, masked as GetCustomer masks them.
    let auditor = Token::new("archive-desk", "auditor", None);
    let got = found(
        &app,
        &auditor,
        pb::SearchCustomersRequest {
            account_number_prefix: ZHANG_SAN.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let zhang = got[0].customer.clone().unwrap();
    let mut get = app.clients_as(&auditor).customers;
    let shown = get
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{ZHANG_SAN}"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zhang, shown);
    assert_eq!(zhang.display_name, "**");
    assert_ne!(zhang.id_number, ID_NUMBER);
    assert_ne!(zhang.phone, PHONE);
}

#[tokio::test]
async fn a_former_holder_is_found_only_when_asked_for_and_said_to_be_former() {
    let mut app = spawn_app().await;
    people(&mut app).await;
    // 过户: the account passes to a new holder.
    update_customer(
        &mut app,
        ZHANG_SAN,
        pb::Customer {
            display_name: "王五".into(),
            id_number: "120101199001011234".into(),
            phone: "13700002222".into(),
            ..Default::default()
        },
        &["display_name", "id_number", "phone"],
    )
    .await;
    let custodian = Token::custodian();
    let old = pb::SearchCustomersRequest {
        id_number: ID_NUMBER.into(),
        ..Default::default()
    };
    assert!(
        found(&app, &custodian, old.clone())
            .await
            .unwrap()
            .is_empty()
    );
    let former = found(
        &app,
        &custodian,
        pb::SearchCustomersRequest {
            include_former_holders: true,
            ..old
        },
    )
    .await
    .unwrap();
    assert_eq!(accounts(&former), vec![ZHANG_SAN]);
    assert!(former[0].former_holder);
    assert_eq!(former[0].customer.as_ref().unwrap().display_name, "王五");
    let new = found(
        &app,
        &custodian,
        pb::SearchCustomersRequest {
            phone: "13700002222".into(),
            include_former_holders: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(accounts(&new), vec![ZHANG_SAN]);
    assert!(!new[0].former_holder);
}

#[tokio::test]
async fn accounts_opened_without_a_key_are_indexed_at_the_next_start_with_one() {
    let mut keyless = spawn_app_with(TestConfig {
        identifier_key: None,
        ..TestConfig::default()
    })
    .await;
    people(&mut keyless).await;
    let clerk = Token::new("marketing", "counter-clerk", Some("1201"));
    let status = found(
        &keyless,
        &clerk,
        pb::SearchCustomersRequest {
            id_number: ID_NUMBER.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    // The name search needs no key.
    assert_eq!(
        found(
            &keyless,
            &clerk,
            pb::SearchCustomersRequest {
                name: "李四".into(),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
    let keyed = spawn_app_with(TestConfig {
        shared_database: Some(keyless.database_url.clone()),
        ..TestConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let hit = loop {
        let hit = found(
            &keyed,
            &clerk,
            pb::SearchCustomersRequest {
                id_number: ID_NUMBER.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        if !hit.is_empty() {
            break hit;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the backfill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(accounts(&hit), vec![ZHANG_SAN]);
}
