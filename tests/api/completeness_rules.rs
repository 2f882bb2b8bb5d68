//! Managing the completeness rules: set and delete take effect, bad rules are refused naming
//! the field, and only rule managers may change them.

use custodian::proto::v1 as pb;
use pb::BusinessProcess as P;
use tonic::Code;

use crate::helpers::{Token, completeness, file, open, spawn_app};

fn rule(
    process: P,
    class: pb::CustomerClass,
    document_type: &str,
    min: i32,
) -> pb::CompletenessRule {
    pb::CompletenessRule {
        business_process: process.into(),
        customer_class: class.into(),
        document_type: document_type.into(),
        min_count: min,
        ..Default::default()
    }
}

fn set(rule: pb::CompletenessRule) -> pb::SetCompletenessRuleRequest {
    pb::SetCompletenessRuleRequest { rule: Some(rule) }
}

#[tokio::test]
async fn the_seeded_rules_are_listed_by_process() {
    let mut app = spawn_app().await;

    let rules = app
        .completeness
        .list_completeness_rules(pb::ListCompletenessRulesRequest {
            business_process: P::NewConnection.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .rules;

    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "completenessRules/new_connection/any/application-form",
            "completenessRules/new_connection/any/identity-proof",
            "completenessRules/new_connection/non_residential/business-licence",
            "completenessRules/new_connection/non_residential/supply-contract",
        ]
    );
    assert_eq!(rules[0].customer_class(), pb::CustomerClass::Unspecified);
    assert_eq!(rules[0].condition(), pb::RequirementCondition::Always);
}

#[tokio::test]
async fn a_rule_set_takes_effect_and_a_deleted_rule_no_longer_applies() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000001",
        pb::CustomerClass::Residential,
        "120101",
    )
    .await;
    file(
        &mut app,
        "1201000001",
        "inspection-work-order",
        P::Inspection,
        "WO-1",
    )
    .await;
    assert!(
        completeness(&mut app, "1201000001", P::Inspection, "")
            .await
            .complete
    );

    let created = app
        .completeness
        .set_completeness_rule(set(rule(
            P::Inspection,
            pb::CustomerClass::Residential,
            "notice",
            2,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.name,
        "completenessRules/inspection/residential/notice"
    );
    assert_eq!(created.condition(), pb::RequirementCondition::Always);
    file(&mut app, "1201000001", "notice", P::Inspection, "WO-1").await;

    let partly = completeness(&mut app, "1201000001", P::Inspection, "").await;
    let notice = &partly.cases[0].items[1];
    assert_eq!(
        (notice.document_type.as_str(), notice.status()),
        ("notice", pb::ItemStatus::PartlyPresent)
    );

    // Replacing: one notice is enough now.
    app.completeness
        .set_completeness_rule(set(rule(
            P::Inspection,
            pb::CustomerClass::Residential,
            "notice",
            1,
        )))
        .await
        .unwrap();
    assert!(
        completeness(&mut app, "1201000001", P::Inspection, "")
            .await
            .complete
    );

    // Deleting the inspection rule leaves a case nothing is required of: complete.
    app.completeness
        .delete_completeness_rule(pb::DeleteCompletenessRuleRequest {
            name: "completenessRules/inspection/any/inspection-work-order".into(),
        })
        .await
        .unwrap();
    let after = completeness(&mut app, "1201000001", P::Inspection, "").await;
    let types: Vec<&str> = after.cases[0]
        .items
        .iter()
        .map(|i| i.document_type.as_str())
        .collect();
    assert_eq!(types, ["notice"]);

    // Rules belong to no account: the trail of all of them is the auditor's to read.
    let mut auditor = app.clients_as(&Token::new("archive-desk", "auditor", None));
    let events = auditor
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            action: "SetCompletenessRule".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 2);
    assert!(events.iter().any(|e| e.details.contains("\"min_count\":2")));
}

#[tokio::test]
async fn a_class_rule_replaces_the_rule_for_every_class() {
    let mut app = spawn_app().await;
    open(
        &mut app,
        "1201000002",
        pb::CustomerClass::NonResidential,
        "120101",
    )
    .await;
    app.completeness
        .set_completeness_rule(set(rule(
            P::Transfer,
            pb::CustomerClass::NonResidential,
            "identity-proof",
            1,
        )))
        .await
        .unwrap();

    let answer = completeness(&mut app, "1201000002", P::Transfer, "").await;

    let proof = answer.cases[0]
        .items
        .iter()
        .find(|i| i.document_type == "identity-proof")
        .unwrap();
    assert_eq!(
        proof.required_count, 1,
        "not the 2 of the rule for every class"
    );
}

#[tokio::test]
async fn a_bad_rule_is_refused_naming_the_field() {
    let mut app = spawn_app().await;
    let residential = pb::CustomerClass::Residential;
    let cases = [
        (
            "rule.business_process",
            rule(P::Unspecified, residential, "notice", 1),
        ),
        (
            "rule.business_process",
            pb::CompletenessRule {
                business_process: 77,
                ..rule(P::Closure, residential, "notice", 1)
            },
        ),
        (
            "rule.customer_class",
            pb::CompletenessRule {
                customer_class: 9,
                ..rule(P::Closure, residential, "notice", 1)
            },
        ),
        ("rule.document_type", rule(P::Closure, residential, "", 1)),
        (
            "rule.document_type",
            rule(P::Closure, residential, "ghost-paper", 1),
        ),
        ("rule.min_count", rule(P::Closure, residential, "notice", 0)),
        (
            "rule.condition",
            pb::CompletenessRule {
                condition: 12,
                ..rule(P::Closure, residential, "notice", 1)
            },
        ),
    ];
    for (field, bad) in cases {
        let status = app
            .completeness
            .set_completeness_rule(set(bad))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{}",
            status.message()
        );
    }
    let unknown_type = app
        .completeness
        .set_completeness_rule(set(rule(P::Closure, residential, "ghost-paper", 1)))
        .await
        .unwrap_err();
    assert!(unknown_type.message().contains("not in the catalog"));

    let unknown_process = app
        .completeness
        .delete_completeness_rule(pb::DeleteCompletenessRuleRequest {
            name: "completenessRules/rewiring/any/notice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_process.code(), Code::InvalidArgument);
    assert!(
        unknown_process
            .message()
            .starts_with("name: unknown business process \"rewiring\"")
    );

    let absent = app
        .completeness
        .delete_completeness_rule(pb::DeleteCompletenessRuleRequest {
            name: "completenessRules/closure/residential/notice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(absent.code(), Code::NotFound);
}

#[tokio::test]
async fn only_rule_managers_may_change_rules() {
    let app = spawn_app().await;
    let mut clerk = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("1201"),
    ));

    let listed = clerk
        .completeness
        .list_completeness_rules(pb::ListCompletenessRulesRequest::default())
        .await;
    assert!(listed.is_ok(), "reading the rules needs only read-catalog");
    let set_refused = clerk
        .completeness
        .set_completeness_rule(set(rule(
            P::Closure,
            pb::CustomerClass::Residential,
            "notice",
            1,
        )))
        .await
        .unwrap_err();
    assert_eq!(set_refused.code(), Code::PermissionDenied);
    let delete_refused = clerk
        .completeness
        .delete_completeness_rule(pb::DeleteCompletenessRuleRequest {
            name: "completenessRules/new_connection/any/application-form".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(delete_refused.code(), Code::PermissionDenied);
}
