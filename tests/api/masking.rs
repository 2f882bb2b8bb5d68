//! Masking: every response that can carry personal data carries it masked or in full exactly
//! as each role's policy says. The check scans the encoded response bytes, so a personal field
//! added to any response type without going through masking fails it too.

use custodian::domain::{PersonalData, Policy, Scope};
use custodian::proto::v1 as pb;
use prost::Message;
use prost_types::FieldMask;

use std::time::Duration;

use crate::helpers::{
    Token, correct, eventually, filing, header, jpeg_page, repository_file, retitle, spawn_app,
};

const HOUSEHOLD: &str = "1201000001";
const BUSINESS: &str = "1201000002";
const GIVEN_NAME: &str = "三丰";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const PHONE_AFTER_UPDATE: &str = "13987654321";
const ADDRESS_DOOR: &str = "南京路100号3门";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn each_role_sees_personal_data_masked_or_in_full_as_the_policy_says() {
    let mut app = spawn_app().await;
    for (account, name, class) in [
        (
            HOUSEHOLD,
            format!("张{GIVEN_NAME}"),
            pb::CustomerClass::Residential,
        ),
        (
            BUSINESS,
            "天津某某电器有限公司".to_string(),
            pb::CustomerClass::NonResidential,
        ),
    ] {
        app.customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(pb::Customer {
                    account_number: account.into(),
                    display_name: name,
                    customer_class: class.into(),
                    org_unit_code: "120101".into(),
                    id_number: ID_NUMBER.into(),
                    phone: PHONE.into(),
                    address: format!("天津市和平区{ADDRESS_DOOR}"),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    // Clerks type the holder's name, ID number, phone and address into titles and reasons:
    // what the customer record masks must not stay readable one field over.
    let filed = app
        .file(filing(
            pb::FilingHeader {
                title: format!("张{GIVEN_NAME} 居民新装申请 身份证{ID_NUMBER} 电话{PHONE}"),
                ..header(HOUSEHOLD, "titled-with-personal-data")
            },
            &[jpeg_page(64, 1)],
            64,
        ))
        .await
        .unwrap();
    let custodian = Token::custodian();
    correct(
        &mut app.clients_as(&custodian),
        pb::CorrectionHeader {
            reason: format!("张{GIVEN_NAME}来电（{PHONE}），住天津市和平区{ADDRESS_DOOR}"),
            ..retitle(
                &filed.name,
                1,
                &format!("张{GIVEN_NAME} 居民新装申请 {ID_NUMBER}"),
            )
        },
        vec![],
    )
    .await
    .unwrap();
    app.clients_as(&custodian)
        .retention
        .place_legal_hold(pb::PlaceLegalHoldRequest {
            parent: filed.name.clone(),
            reason: format!("诉讼：张{GIVEN_NAME}，证件号{ID_NUMBER}"),
        })
        .await
        .unwrap();
    // The trail is written in batches: wait until it holds the events above (the correction's
    // and the hold's free text is where it carries the holder's name, ID number and address),
    // so that what each role reads of it does not depend on the writer's timing.
    let mut trail = Vec::new();
    for _ in 0..50 {
        trail = app
            .clients_as(&custodian)
            .audit
            .list_audit_events(pb::ListAuditEventsRequest {
                account_number: HOUSEHOLD.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .encode_to_vec();
        if contains(&trail, ADDRESS_DOOR) && contains(&trail, "诉讼") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        contains(&trail, ADDRESS_DOOR),
        "the correction's event was never written"
    );
    let policy =
        Policy::parse(&std::fs::read_to_string(repository_file("config/policy.toml")).unwrap())
            .unwrap();

    let mut checked = 0;
    for (role, role_policy) in &policy.roles {
        let system = policy
            .systems
            .iter()
            .find(|(_, s)| s.roles.contains(role))
            .map(|(name, _)| name.clone())
            .unwrap();
        let mut token = Token::new(&system, role, Some("1201"));
        if role_policy.scope == Scope::OwnAccount {
            token.org_unit = None;
            token.account = Some(HOUSEHOLD.into());
        }
        let mut c = app.clients_as(&token);
        let masked = role_policy.personal_data == PersonalData::Masked;

        // Every response that may carry personal data, encoded as it travels.
        let mut responses: Vec<(String, Vec<u8>)> = Vec::new();
        if let Ok(r) = c
            .customers
            .get_customer(pb::GetCustomerRequest {
                name: format!("customers/{HOUSEHOLD}"),
            })
            .await
        {
            responses.push(("GetCustomer".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .customers
            .list_customers(pb::ListCustomersRequest::default())
            .await
        {
            responses.push(("ListCustomers".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .customers
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(pb::Customer {
                    name: format!("customers/{HOUSEHOLD}"),
                    phone: PHONE_AFTER_UPDATE.into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["phone".into()],
                }),
            })
            .await
        {
            responses.push(("UpdateCustomer".into(), r.into_inner().encode_to_vec()));
        }
        // The customer's history: earlier revisions carry the same personal data.
        if let Ok(r) = c
            .customers
            .list_customer_revisions(pb::ListCustomerRevisionsRequest {
                parent: format!("customers/{HOUSEHOLD}"),
                ..Default::default()
            })
            .await
        {
            responses.push((
                "ListCustomerRevisions".into(),
                r.into_inner().encode_to_vec(),
            ));
        }
        if let Ok(r) = c
            .customers
            .get_customer_revision(pb::GetCustomerRevisionRequest {
                name: format!("customers/{HOUSEHOLD}/revisions/1"),
            })
            .await
        {
            responses.push(("GetCustomerRevision".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .audit
            .list_audit_events(pb::ListAuditEventsRequest {
                account_number: HOUSEHOLD.into(),
                // Every event so far: the reads of earlier roles must not page out the
                // correction's.
                page_size: 1000,
                ..Default::default()
            })
            .await
        {
            responses.push(("ListAuditEvents".into(), r.into_inner().encode_to_vec()));
        }
        // The free text of documents, versions and holds.
        let document = pb::GetDocumentRequest {
            name: filed.name.clone(),
            ..Default::default()
        };
        if let Ok(r) = c.documents.get_document(document.clone()).await {
            responses.push(("GetDocument".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .documents
            .get_document(pb::GetDocumentRequest {
                version: 1,
                ..document
            })
            .await
        {
            responses.push(("GetDocument v1".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .documents
            .list_documents(pb::ListDocumentsRequest {
                parent: format!("customers/{HOUSEHOLD}"),
                ..Default::default()
            })
            .await
            && !r.get_ref().documents.is_empty()
        {
            responses.push(("ListDocuments".into(), r.into_inner().encode_to_vec()));
        }
        // Across archives: the same titles as ListDocuments, masked the same way.
        if let Ok(r) = c
            .search
            .search_documents(pb::SearchDocumentsRequest {
                work_order_number: "WO-1".into(),
                ..Default::default()
            })
            .await
            && !r.get_ref().documents.is_empty()
        {
            responses.push(("SearchDocuments".into(), r.into_inner().encode_to_vec()));
        }
        if let Ok(r) = c
            .documents
            .list_document_versions(pb::ListDocumentVersionsRequest {
                name: filed.name.clone(),
            })
            .await
        {
            responses.push((
                "ListDocumentVersions".into(),
                r.into_inner().encode_to_vec(),
            ));
        }
        if let Ok(r) = c
            .retention
            .list_legal_holds(pb::ListLegalHoldsRequest {
                parent: format!("customers/{HOUSEHOLD}"),
                show_released: true,
            })
            .await
        {
            responses.push(("ListLegalHolds".into(), r.into_inner().encode_to_vec()));
        }

        for (rpc, bytes) in &responses {
            checked += 1;
            // Titles and hold reasons carry the name and ID number; the rest the address too.
            let carried = if [
                "GetDocument",
                "GetDocument v1",
                "ListDocuments",
                "SearchDocuments",
                "ListLegalHolds",
            ]
            .contains(&rpc.as_str())
            {
                &[GIVEN_NAME, ID_NUMBER][..]
            } else {
                &[GIVEN_NAME, ID_NUMBER, ADDRESS_DOOR][..]
            };
            let shown = !masked;
            for &secret in carried {
                assert_eq!(
                    contains(bytes, secret),
                    shown,
                    "{rpc} as {role}: {secret:?} should be {}",
                    if shown { "shown in full" } else { "masked" }
                );
            }
            if masked {
                assert!(
                    !contains(bytes, PHONE) && !contains(bytes, PHONE_AFTER_UPDATE),
                    "{rpc} as {role} leaks a phone number"
                );
                assert!(
                    contains(bytes, "110***********002X") || rpc == "ListAuditEvents",
                    "{rpc} as {role}: masked ID number missing"
                );
            }
            // A business's name is not personal data: it stays readable for everyone who lists it.
            if rpc == "ListCustomers" && role_policy.scope != Scope::OwnAccount {
                assert!(contains(bytes, "天津某某电器有限公司"), "{rpc} as {role}");
            }
        }
    }
    assert!(checked >= 60, "only {checked} responses were checked");
}

#[tokio::test]
async fn a_masked_audit_reader_sees_staff_named_and_members_of_the_public_masked() {
    // A self-service customer whose login is their phone number.
    const CUSTOMER_LOGIN: &str = "13700001111";
    let mut app = spawn_app().await;
    app.create_customer(HOUSEHOLD).await;
    let mut customer = Token::new("marketing", "customer", None);
    customer.system = Some(self_service_system());
    customer.account = Some(HOUSEHOLD.into());
    customer.person = Some(CUSTOMER_LOGIN.into());
    let mut clerk = Token::new("marketing", "counter-clerk", Some("1201"));
    clerk.person = Some("clerk-7".into());
    for token in [&customer, &clerk] {
        app.clients_as(token)
            .customers
            .get_customer(pb::GetCustomerRequest {
                name: format!("customers/{HOUSEHOLD}"),
            })
            .await
            .expect("the customer reads their own record, the clerk one of their unit");
    }

    let persons = |token: Token| {
        let mut audit = app.clients_as(&token).audit;
        async move {
            let events = audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    account_number: HOUSEHOLD.into(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .expect("the trail is readable")
                .into_inner()
                .events;
            events
                .into_iter()
                .filter(|e| e.action == "GetCustomer")
                .map(|e| e.person)
                .collect::<Vec<_>>()
        }
    };
    // The trail is written in batches: wait until both reads are in it.
    eventually(
        Duration::from_secs(5),
        "both reads to be recorded",
        || async { persons(Token::custodian()).await.len() >= 2 },
    )
    .await;
    let as_auditor = persons(Token::new("archive-desk", "auditor", None)).await;
    assert!(
        as_auditor.contains(&"clerk-7".to_string()),
        "{as_auditor:?}"
    );
    assert!(
        as_auditor.contains(&"13*******11".to_string()),
        "{as_auditor:?}"
    );
    assert!(
        !as_auditor.iter().any(|p| p == CUSTOMER_LOGIN),
        "{as_auditor:?}"
    );
    // A role that sees personal data in full sees who the customer was.
    let as_custodian = persons(Token::custodian()).await;
    assert!(
        as_custodian.contains(&CUSTOMER_LOGIN.to_string()),
        "{as_custodian:?}"
    );
}

/// The system the policy lets customers act through.
fn self_service_system() -> String {
    let policy =
        Policy::parse(&std::fs::read_to_string(repository_file("config/policy.toml")).unwrap())
            .unwrap();
    policy
        .systems
        .iter()
        .find(|(_, s)| s.roles.iter().any(|r| r == "customer"))
        .map(|(name, _)| name.clone())
        .expect("a system acts for customers")
}
