//! Nobody reads past their reach: the new holder of an account does not see the former holder's
//! personal data, legal holds are not told to customers and payment channels, a filing's retry
//! answers nothing a fresh filing would not, and a payment channel reaches one account only.

use custodian::proto::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::helpers::{
    Clients, TestApp, Token, filing, header, ignoring_renditions, jpeg_page, spawn_app,
    update_customer,
};

const ACCOUNT: &str = "1201000001";
/// Another account of the same county.
const NEIGHBOUR: &str = "1201000002";
/// An account of province 13, outside the reach of province 12's staff.
const ELSEWHERE: &str = "1301000001";

const FORMER_NAME: &str = "王建国";
const FORMER_GIVEN_NAME: &str = "建国";
const FORMER_ID: &str = "12010219600101123X";
const FORMER_PHONE: &str = "13611112222";
const FORMER_ADDRESS: &str = "天津市河西区友谊路8号2门301";
const FORMER_DOOR: &str = "友谊路8号2门301";

const NEW_NAME: &str = "李海燕";
const NEW_ID: &str = "120103198805056666";
const NEW_PHONE: &str = "13933334444";
const NEW_ADDRESS: &str = "天津市南开区鞍山西道5号";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn customer_token(account: &str) -> Token {
    Token {
        account: Some(account.into()),
        ..Token::new("self-service-portal", "customer", None)
    }
}

fn payment_channel_token(account: &str) -> Token {
    Token {
        account: Some(account.into()),
        ..Token::new("payment-channel", "payment-channel", None)
    }
}

async fn open_household(app: &mut TestApp, account: &str, org_unit: &str) {
    let mut custodian = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some(&org_unit[..2]),
    ));
    custodian
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                account_number: account.into(),
                display_name: FORMER_NAME.into(),
                customer_class: pb::CustomerClass::Residential.into(),
                org_unit_code: org_unit.into(),
                id_number: FORMER_ID.into(),
                phone: FORMER_PHONE.into(),
                address: FORMER_ADDRESS.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

async fn update(app: &mut TestApp, customer: pb::Customer, paths: &[&str]) -> pb::Customer {
    update_customer(app, ACCOUNT, customer, paths).await
}

/// The transfer (过户) to a new holder: name, ID number, phone and address all change.
async fn transfer(app: &mut TestApp) -> pb::Customer {
    update(
        app,
        pb::Customer {
            display_name: NEW_NAME.into(),
            id_number: NEW_ID.into(),
            phone: NEW_PHONE.into(),
            address: NEW_ADDRESS.into(),
            ..Default::default()
        },
        &["display_name", "id_number", "phone", "address"],
    )
    .await
}

/// Every revision call of `account`, encoded as it travels: the list and each revision.
async fn revision_responses(clients: &mut Clients, account: &str, revisions: i32) -> Vec<Vec<u8>> {
    let mut responses = vec![
        clients
            .customers
            .list_customer_revisions(pb::ListCustomerRevisionsRequest {
                parent: format!("customers/{account}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .encode_to_vec(),
    ];
    for revision in 1..=revisions {
        responses.push(
            clients
                .customers
                .get_customer_revision(pb::GetCustomerRevisionRequest {
                    name: format!("customers/{account}/revisions/{revision}"),
                })
                .await
                .unwrap()
                .into_inner()
                .encode_to_vec(),
        );
    }
    responses
}

async fn revision(clients: &mut Clients, number: i32) -> pb::Customer {
    clients
        .customers
        .get_customer_revision(pb::GetCustomerRevisionRequest {
            name: format!("customers/{ACCOUNT}/revisions/{number}"),
        })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap()
}

#[tokio::test]
async fn after_a_transfer_the_new_holder_never_sees_the_former_holders_personal_data() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    // The former holder changes their phone: still their holding.
    update(
        &mut app,
        pb::Customer {
            phone: "13600000000".into(),
            ..Default::default()
        },
        &["phone"],
    )
    .await;
    let transferred = transfer(&mut app).await;
    assert_eq!(transferred.revision, 3);

    for (who, token) in [
        ("customer", customer_token(ACCOUNT)),
        ("payment-channel", payment_channel_token(ACCOUNT)),
    ] {
        let mut clients = app.clients_as(&token);
        for bytes in revision_responses(&mut clients, ACCOUNT, 3).await {
            for secret in [
                FORMER_NAME,
                FORMER_GIVEN_NAME,
                FORMER_ID,
                &FORMER_ID[FORMER_ID.len() - 4..],
                FORMER_PHONE,
                "13600000000",
                FORMER_DOOR,
            ] {
                assert!(!contains(&bytes, secret), "{who} sees {secret:?}");
            }
        }
        // The earlier holding is still there as the account's history, without its holder.
        let before = revision(&mut clients, 1).await;
        assert_eq!(before.display_name, "王**", "{who}");
        assert_eq!(
            (
                before.id_number.as_str(),
                before.phone.as_str(),
                before.address.as_str()
            ),
            ("", "", ""),
            "{who}"
        );
    }

    // The new holder sees their own holding in full, the payment channel masked.
    let mut customer = app.clients_as(&customer_token(ACCOUNT));
    let now = revision(&mut customer, 3).await;
    assert_eq!(
        (now.display_name.as_str(), now.id_number.as_str()),
        (NEW_NAME, NEW_ID)
    );
    let mut channel = app.clients_as(&payment_channel_token(ACCOUNT));
    assert_eq!(
        revision(&mut channel, 3).await.id_number,
        "120***********6666"
    );

    // The archive's own staff still read the whole history as their policy says.
    let clerk = &mut app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));
    assert_eq!(revision(clerk, 1).await.id_number, FORMER_ID);
}

#[tokio::test]
async fn a_rename_of_the_same_holder_stays_in_the_holders_own_history() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    // The same person (same ID number) corrects the spelling of the name.
    update(
        &mut app,
        pb::Customer {
            display_name: "王健国".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    let mut customer = app.clients_as(&customer_token(ACCOUNT));
    let before = revision(&mut customer, 1).await;
    assert_eq!(
        (before.display_name.as_str(), before.id_number.as_str()),
        (FORMER_NAME, FORMER_ID)
    );
}

async fn file_typed(
    clients: &mut Clients,
    account: &str,
    document_type: &str,
    request_id: &str,
) -> Result<pb::Document, tonic::Status> {
    let header = pb::FilingHeader {
        document_type: document_type.into(),
        ..header(account, request_id)
    };
    clients
        .documents
        .file_document(futures::stream::iter(filing(
            header,
            &[jpeg_page(400, 3)],
            400,
        )))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn customers_and_payment_channels_are_not_told_of_legal_holds() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    let mut custodian = app.clients_as(&Token::custodian());
    let notice = file_typed(&mut custodian, ACCOUNT, "notice", "notice")
        .await
        .unwrap();
    let proof = file_typed(&mut custodian, ACCOUNT, "identity-proof", "proof")
        .await
        .unwrap();
    for (parent, reason) in [
        (
            format!("customers/{ACCOUNT}"),
            "诉讼保全 (2026)津0103民初123号",
        ),
        (proof.name.clone(), "身份冒用调查"),
    ] {
        custodian
            .retention
            .place_legal_hold(pb::PlaceLegalHoldRequest {
                parent,
                reason: reason.into(),
            })
            .await
            .unwrap();
    }

    for (who, token) in [
        ("customer", customer_token(ACCOUNT)),
        ("payment-channel", payment_channel_token(ACCOUNT)),
    ] {
        let mut clients = app.clients_as(&token);
        let listed = clients
            .retention
            .list_legal_holds(pb::ListLegalHoldsRequest {
                parent: format!("customers/{ACCOUNT}"),
                show_released: true,
            })
            .await;
        match listed {
            Err(status) => assert_eq!(status.code(), Code::PermissionDenied, "{who}"),
            Ok(response) => {
                let bytes = response.into_inner().encode_to_vec();
                for secret in [
                    "诉讼保全",
                    "身份冒用",
                    "archive-desk/",
                    proof.document_id.as_str(),
                ] {
                    assert!(!contains(&bytes, secret), "{who} is told {secret:?}");
                }
            }
        }
        // Nor does the retention of a document they see say that it is held.
        let retention = clients
            .retention
            .get_retention(pb::GetRetentionRequest {
                name: notice.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(retention.legal_holds.is_empty(), "{who}");
    }

    // The keepers see both holds, with who placed them and why.
    let holds = custodian
        .retention
        .list_legal_holds(pb::ListLegalHoldsRequest {
            parent: format!("customers/{ACCOUNT}"),
            show_released: false,
        })
        .await
        .unwrap()
        .into_inner()
        .legal_holds;
    assert_eq!(holds.len(), 2);
}

fn clerk(province: &str) -> Token {
    Token::new("marketing", "counter-clerk", Some(province))
}

#[tokio::test]
async fn a_retry_by_a_caller_outside_the_accounts_reach_gets_what_a_fresh_filing_would() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    open_household(&mut app, ELSEWHERE, "130101").await;
    let mut inside = app.clients_as(&clerk("12"));
    let first = file_typed(&mut inside, ACCOUNT, "application-form", "wo-1")
        .await
        .unwrap();

    // A clerk of province 13, of the same system, sends the very same filing.
    let mut outside = app.clients_as(&clerk("13"));
    let fresh = file_typed(&mut outside, ACCOUNT, "application-form", "never-used")
        .await
        .unwrap_err();
    assert_eq!(fresh.code(), Code::NotFound);
    let retry = file_typed(&mut outside, ACCOUNT, "application-form", "wo-1")
        .await
        .unwrap_err();
    assert_eq!(retry.code(), fresh.code(), "{retry:?}");
    assert!(!retry.message().contains(&first.document_id), "{retry:?}");

    // The same request id for a filing into its own account: taken, but by nothing it may see.
    let taken = file_typed(&mut outside, ELSEWHERE, "application-form", "wo-1")
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    for hidden in [first.document_id.as_str(), ACCOUNT] {
        assert!(!taken.message().contains(hidden), "{taken:?}");
    }

    // The filer's own retry still answers the first document.
    let again = file_typed(&mut inside, ACCOUNT, "application-form", "wo-1")
        .await
        .unwrap();
    assert_eq!(ignoring_renditions(again), ignoring_renditions(first));
}

#[tokio::test]
async fn a_retry_of_a_document_type_the_caller_may_not_see_gets_what_a_fresh_filing_would() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    let mut counter = app.clients_as(&clerk("1201"));
    file_typed(&mut counter, ACCOUNT, "identity-proof", "proof-1")
        .await
        .unwrap();
    // An inspector of the same system and county: internal clearance, no identity proofs.
    let mut inspector = app.clients_as(&Token::new("marketing", "inspector", Some("1201")));
    let fresh = file_typed(&mut inspector, ACCOUNT, "identity-proof", "proof-2")
        .await
        .unwrap_err();
    assert_eq!(fresh.code(), Code::PermissionDenied);
    let retry = file_typed(&mut inspector, ACCOUNT, "identity-proof", "proof-1")
        .await
        .unwrap_err();
    assert_eq!(retry.code(), fresh.code(), "{retry:?}");
}

#[tokio::test]
async fn a_payment_channel_reaches_only_the_account_its_token_names() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    open_household(&mut app, NEIGHBOUR, "120101").await;

    // A token of the province without an account reaches nothing.
    let mut province = app.clients_as(&Token::new(
        "payment-channel",
        "payment-channel",
        Some("12"),
    ));
    let listed = province
        .customers
        .list_customers(pb::ListCustomersRequest {
            org_unit_code: "12".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await;
    let status = listed.map(|r| r.into_inner().customers.len()).unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = province
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{ACCOUNT}"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Serving one payer: that account, and no other of the county.
    let mut payer = app.clients_as(&Token {
        org_unit: Some("12".into()),
        ..payment_channel_token(ACCOUNT)
    });
    let listed = payer
        .customers
        .list_customers(pb::ListCustomersRequest {
            org_unit_code: "12".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .customers;
    let accounts: Vec<&str> = listed.iter().map(|c| c.account_number.as_str()).collect();
    assert_eq!(accounts, [ACCOUNT]);
    let status = payer
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{NEIGHBOUR}"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn short_names_and_addresses_are_masked_without_giving_themselves_away() {
    let mut app = spawn_app().await;
    for (account, name, address) in [
        (ACCOUNT, "李", "南京路1号"),
        (NEIGHBOUR, "李四", "和平区南京路1号"),
    ] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(pb::Customer {
                    display_name: name.into(),
                    address: address.into(),
                    ..crate::helpers::customer(account, "120101")
                }),
            })
            .await
            .unwrap();
    }
    let mut inspector = app.clients_as(&Token::new("marketing", "inspector", Some("1201")));
    for (account, name, door) in [(ACCOUNT, "李", "路1号"), (NEIGHBOUR, "四", "京路1号")] {
        let seen = inspector
            .customers
            .get_customer(pb::GetCustomerRequest {
                name: format!("customers/{account}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!seen.display_name.contains(name), "{seen:?}");
        assert!(!seen.address.contains(door), "{seen:?}");
    }
}

/// Account numbers are unique across the utility, so a clerk opening an account that exists in
/// another unit must be told it cannot be opened: ALREADY_EXISTS says that much and nothing of
/// the account's holder, unit or documents (the trade-off the README states).
#[tokio::test]
async fn opening_an_account_that_exists_out_of_reach_says_only_that_it_exists() {
    let mut app = spawn_app().await;
    open_household(&mut app, ACCOUNT, "120101").await;
    let mut stranger = app.clients_as(&clerk("13"));
    let status = stranger
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                account_number: ACCOUNT.into(),
                display_name: "王五".into(),
                customer_class: pb::CustomerClass::Residential.into(),
                org_unit_code: "130101".into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("the account number is taken");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    for secret in [FORMER_NAME, FORMER_ID, FORMER_PHONE, FORMER_ADDRESS, "1201"] {
        let message = status.message().replace(ACCOUNT, "");
        assert!(!message.contains(secret), "{secret:?} in {status:?}");
    }
    // And reading it stays out of reach.
    let read = stranger
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{ACCOUNT}"),
        })
        .await
        .expect_err("out of reach");
    assert_eq!(read.code(), Code::NotFound, "{read:?}");
}
