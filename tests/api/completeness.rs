//! Completeness of one account: every seeded rule present, missing and partly present, cases per
//! work order, conditions, narrowing, late filings, and what callers may see of it.

use custodian::proto::v1 as pb;
use pb::BusinessProcess as P;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{TestApp, Token, completeness, file, open, spawn_app};

/// The statuses of a case's items, by document type.
fn statuses(case: &pb::CompletenessCase) -> Vec<(String, pb::ItemStatus, i32)> {
    case.items
        .iter()
        .map(|item| {
            (
                item.document_type.clone(),
                item.status(),
                item.present_count,
            )
        })
        .collect()
}

fn status(
    document_type: &str,
    status: pb::ItemStatus,
    present: i32,
) -> (String, pb::ItemStatus, i32) {
    (document_type.to_owned(), status, present)
}

async fn close(app: &mut TestApp, account: &str) {
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
        .expect("the account closes");
}

#[tokio::test]
async fn an_account_without_documents_lacks_its_whole_opening_case() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000001",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;

    let answer = completeness(&mut app, "1201000001", P::Unspecified, "").await;

    assert_eq!(answer.name, "customers/1201000001/completeness");
    assert!(!answer.complete);
    assert_eq!(answer.cases.len(), 1);
    let case = &answer.cases[0];
    assert_eq!(case.business_process(), P::NewConnection);
    assert_eq!(case.work_order_number, "");
    assert_eq!(
        statuses(case),
        [
            status("application-form", pb::ItemStatus::Missing, 0),
            status("identity-proof", pb::ItemStatus::Missing, 0),
        ]
    );
}

#[tokio::test]
async fn a_late_identity_proof_completes_a_residential_new_connection() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000001",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    let form = file(
        &mut app,
        "1201000001",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;

    let before = completeness(&mut app, "1201000001", P::Unspecified, "").await;
    assert!(!before.complete);
    assert_eq!(
        before.cases.len(),
        1,
        "the filed case replaces the empty opening case"
    );
    assert_eq!(before.cases[0].work_order_number, "WO-1");
    assert_eq!(before.cases[0].items[0].documents, [form.name]);
    assert_eq!(before.cases[0].items[1].status(), pb::ItemStatus::Missing);

    let proof = file(
        &mut app,
        "1201000001",
        "identity-proof",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let after = completeness(&mut app, "1201000001", P::Unspecified, "").await;

    assert!(after.complete);
    assert!(after.cases[0].complete);
    assert_eq!(after.cases[0].items[1].documents, [proof.name]);
}

#[tokio::test]
async fn a_business_new_connection_also_needs_its_licence_and_a_supply_contract() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000002",
        pb::CustomerClass::NonResidential,
        "120101",
    )
    .await;
    for document_type in ["application-form", "identity-proof"] {
        file(
            &mut app,
            "1201000002",
            document_type,
            P::NewConnection,
            "WO-1",
        )
        .await;
    }

    let answer = completeness(&mut app, "1201000002", P::NewConnection, "").await;

    assert_eq!(
        statuses(&answer.cases[0]),
        [
            status("application-form", pb::ItemStatus::Present, 1),
            status("business-licence", pb::ItemStatus::Missing, 0),
            status("identity-proof", pb::ItemStatus::Present, 1),
            status("supply-contract", pb::ItemStatus::Missing, 0),
        ]
    );
}

/// For every seeded rule of every process and class: a case that holds nothing of the first
/// required type, one document fewer than required of any type needing several, and enough of
/// the rest reports them missing, partly present and present; filing the rest late completes it.
#[tokio::test]
async fn every_seeded_rule_is_reported_missing_partly_present_and_present() {
    let mut app = spawn_app().await;
    let rules = app
        .completeness
        .list_completeness_rules(pb::ListCompletenessRulesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert!(rules.len() >= 20, "the seeded rule set is there");
    let mut checked = 0;
    for (n, class) in [
        pb::CustomerClass::Residential,
        pb::CustomerClass::NonResidential,
    ]
    .into_iter()
    .enumerate()
    {
        for (m, process) in (1..=9).map(|p| P::try_from(p).unwrap()).enumerate() {
            let account = format!("12010{n}{m:05}");
            open(&mut app, &account, class, "120101").await;
            let work_order = format!("WO-{m}");
            // The rules of this case: the class's own rule wins over `any` for the same type.
            let mut required: Vec<(String, i32)> = Vec::new();
            for rule in rules.iter().filter(|r| r.business_process() == process) {
                let own = rule.customer_class() == class;
                if rule.customer_class() != pb::CustomerClass::Unspecified && !own {
                    continue;
                }
                let replaced = !own
                    && rules.iter().any(|r| {
                        r.business_process() == process
                            && r.customer_class() == class
                            && r.document_type == rule.document_type
                    });
                if !replaced {
                    required.push((rule.document_type.clone(), rule.min_count));
                }
            }
            required.sort();
            let mut expected = Vec::new();
            for (i, (document_type, min)) in required.iter().enumerate() {
                let filed = if i == 0 {
                    0
                } else {
                    min - 1 + i32::from(*min == 1)
                };
                for _ in 0..filed {
                    file(&mut app, &account, document_type, process, &work_order).await;
                }
                let state = match filed {
                    0 => pb::ItemStatus::Missing,
                    f if f < *min => pb::ItemStatus::PartlyPresent,
                    _ => pb::ItemStatus::Present,
                };
                expected.push(status(document_type, state, filed));
            }
            // The closure's settlement notice is required only of a closed account.
            if process == P::Closure {
                let open_answer = completeness(&mut app, &account, process, &work_order).await;
                assert!(
                    !open_answer.cases[0]
                        .items
                        .iter()
                        .any(|i| i.document_type == "notice")
                );
                close(&mut app, &account).await;
            }

            let answer = completeness(&mut app, &account, process, &work_order).await;
            assert_eq!(answer.cases.len(), 1, "{process:?} {class:?}");
            assert_eq!(
                statuses(&answer.cases[0]),
                expected,
                "{process:?} {class:?}"
            );
            assert!(!answer.cases[0].complete);
            checked += expected.len();
        }
    }
    assert!(checked >= 40, "{checked} items checked");
}

#[tokio::test]
async fn each_work_order_is_its_own_case() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000003",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    for document_type in ["application-form", "identity-proof"] {
        file(
            &mut app,
            "1201000003",
            document_type,
            P::NewConnection,
            "WO-1",
        )
        .await;
    }
    file(
        &mut app,
        "1201000003",
        "application-form",
        P::CapacityIncrease,
        "WO-3",
    )
    .await;
    file(
        &mut app,
        "1201000003",
        "inspection-work-order",
        P::Inspection,
        "WO-2",
    )
    .await;
    file(&mut app, "1201000003", "notice", P::Inspection, "WO-4").await;

    let all = completeness(&mut app, "1201000003", P::Unspecified, "").await;

    let cases: Vec<(P, &str, bool)> = all
        .cases
        .iter()
        .map(|c| {
            (
                c.business_process(),
                c.work_order_number.as_str(),
                c.complete,
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            (P::NewConnection, "WO-1", true),
            (P::CapacityIncrease, "WO-3", true),
            (P::Inspection, "WO-2", true),
            (P::Inspection, "WO-4", false),
        ]
    );
    assert!(!all.complete);

    let one = completeness(&mut app, "1201000003", P::Unspecified, "WO-4").await;
    assert_eq!(one.cases.len(), 1);
    assert_eq!(one.cases[0].work_order_number, "WO-4");
    assert_eq!(
        statuses(&one.cases[0]),
        [status("inspection-work-order", pb::ItemStatus::Missing, 0)]
    );
    let inspections = completeness(&mut app, "1201000003", P::Inspection, "").await;
    assert_eq!(inspections.cases.len(), 2);
}

#[tokio::test]
async fn an_identity_proof_on_file_serves_a_later_capacity_increase() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000004",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    file(
        &mut app,
        "1201000004",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let proof = file(
        &mut app,
        "1201000004",
        "identity-proof",
        P::NewConnection,
        "WO-1",
    )
    .await;
    file(
        &mut app,
        "1201000004",
        "application-form",
        P::CapacityIncrease,
        "WO-2",
    )
    .await;

    let answer = completeness(&mut app, "1201000004", P::CapacityIncrease, "WO-2").await;

    let item = &answer.cases[0].items[1];
    assert_eq!(item.document_type, "identity-proof");
    assert_eq!(item.condition(), pb::RequirementCondition::OnFile);
    assert_eq!(item.status(), pb::ItemStatus::Present);
    assert_eq!(item.documents, [proof.name]);
    assert!(answer.complete);
}

#[tokio::test]
async fn asking_for_a_process_the_archive_has_no_case_of_lists_what_it_will_need() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000005",
        pb::CustomerClass::NonResidential,
        "120101",
    )
    .await;

    let answer = completeness(&mut app, "1201000005", P::Transfer, "WO-9").await;

    assert_eq!(answer.cases.len(), 1);
    let case = &answer.cases[0];
    assert_eq!(
        (case.business_process(), case.work_order_number.as_str()),
        (P::Transfer, "WO-9")
    );
    assert!(
        case.items
            .iter()
            .all(|i| i.status() == pb::ItemStatus::Missing)
    );
    let proof = case
        .items
        .iter()
        .find(|i| i.document_type == "identity-proof")
        .unwrap();
    assert_eq!(proof.required_count, 2, "both holders' identity proofs");
}

#[tokio::test]
async fn documents_a_role_may_not_see_are_counted_but_not_named() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000006",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    let form = file(
        &mut app,
        "1201000006",
        "application-form",
        P::NewConnection,
        "WO-1",
    )
    .await;
    file(
        &mut app,
        "1201000006",
        "identity-proof",
        P::NewConnection,
        "WO-1",
    )
    .await;
    let mut advisor = app.clients_as(&Token::new(
        "energy-services",
        "energy-advisor",
        Some("1201"),
    ));

    let answer = advisor
        .completeness
        .get_completeness(pb::GetCompletenessRequest {
            name: "customers/1201000006/completeness".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let items = &answer.cases[0].items;
    assert_eq!(items[0].documents, [form.name]);
    assert_eq!(items[1].document_type, "identity-proof");
    assert_eq!(items[1].status(), pb::ItemStatus::Present);
    assert!(
        items[1].documents.is_empty(),
        "the advisor does not see identity proofs"
    );
}

#[tokio::test]
async fn completeness_of_an_unknown_or_unreachable_account_is_not_found() {
    let mut app = spawn_app().await;
    let mut other = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("1302"),
    ));
    open(
        &mut app,
        "1201000007",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    for (clients, account) in [
        (&mut app.completeness, "1201009999"),
        (&mut other.completeness, "1201000007"),
    ] {
        let status = clients
            .get_completeness(pb::GetCompletenessRequest {
                name: format!("customers/{account}/completeness"),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{account}");
    }
}

#[tokio::test]
async fn a_malformed_completeness_request_names_the_field() {
    let mut app = spawn_app().await;
    let requests = [
        (
            "name",
            pb::GetCompletenessRequest {
                name: "customers/1201000001".into(),
                ..Default::default()
            },
        ),
        (
            "name",
            pb::GetCompletenessRequest {
                name: "customers/12x/completeness".into(),
                ..Default::default()
            },
        ),
        (
            "business_process",
            pb::GetCompletenessRequest {
                name: "customers/1201000001/completeness".into(),
                business_process: 42,
                ..Default::default()
            },
        ),
        (
            "work_order_number",
            pb::GetCompletenessRequest {
                name: "customers/1201000001/completeness".into(),
                work_order_number: "WO 1".into(),
                ..Default::default()
            },
        ),
    ];
    for (field, request) in requests {
        let status = app
            .completeness
            .get_completeness(request)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{}",
            status.message()
        );
    }
}
