//! The authorisation matrix of CompletenessService: every role of the policy × an account (or
//! org unit) inside and outside its scope, against the real server.

use custodian::domain::{Permission, Scope};
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{Caller, Expect, Matrix, account, called, outcome, world};

/// The rule each manager's delete removes: set again before each attempt.
fn suspension_notice() -> pb::CompletenessRule {
    pb::CompletenessRule {
        business_process: pb::BusinessProcess::Suspension.into(),
        customer_class: pb::CustomerClass::NonResidential.into(),
        document_type: "notice".into(),
        min_count: 1,
        ..Default::default()
    }
}

/// The report over an org unit: it needs run-reports beside read-documents; org-scoped roles
/// reach units within theirs (1201), `all` reaches every unit, self-service callers get no
/// report.
fn report_expectation(caller: &Caller, inside: bool) -> Expect {
    if !caller.can(Permission::ReadDocuments)
        || !caller.can(Permission::RunReports)
        || caller.scope == Scope::OwnAccount
    {
        Expect::Refused(Code::PermissionDenied)
    } else if caller.reaches(inside) {
        Expect::Allowed
    } else {
        Expect::Refused(Code::PermissionDenied)
    }
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_of_completeness() {
    let mut world = world().await;
    let mut matrix = Matrix::default();
    let mut check = |rpc: &str, caller: &Caller, inside: bool, expected: Expect, actual: Expect| {
        matrix.cell(rpc, caller, inside, None, expected, actual)
    };

    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let actual = called(outcome(
                c.completeness
                    .get_completeness(pb::GetCompletenessRequest {
                        name: format!("customers/{}/completeness", account(inside)),
                        ..Default::default()
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::ReadDocuments, inside, None);
            check("GetCompleteness", caller, inside, expected, actual);

            let unit = if inside { "120101" } else { "130101" };
            let actual = match c
                .completeness
                .stream_completeness_report(pb::StreamCompletenessReportRequest {
                    org_unit_code: unit.into(),
                })
                .await
            {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    let mut result = Ok(());
                    while let Some(message) = stream.message().await.transpose() {
                        if let Err(status) = message {
                            result = Err(status.code());
                            break;
                        }
                    }
                    called(result)
                }
                Err(status) => Expect::Refused(status.code()),
            };
            let expected = report_expectation(caller, inside);
            check("StreamCompletenessReport", caller, inside, expected, actual);
        }

        let actual = called(outcome(
            c.completeness
                .list_completeness_rules(pb::ListCompletenessRulesRequest::default())
                .await,
        ));
        let expected = caller.expect(Permission::ReadCatalog, true, None);
        check("ListCompletenessRules", caller, true, expected, actual);

        let actual = called(outcome(
            c.completeness
                .set_completeness_rule(pb::SetCompletenessRuleRequest {
                    rule: Some(suspension_notice()),
                })
                .await,
        ));
        let expected = caller.expect(Permission::ManageRules, true, None);
        check("SetCompletenessRule", caller, true, expected, actual);

        world
            .app
            .completeness
            .set_completeness_rule(pb::SetCompletenessRuleRequest {
                rule: Some(suspension_notice()),
            })
            .await
            .expect("the test's custodian manages rules");
        let actual = called(outcome(
            c.completeness
                .delete_completeness_rule(pb::DeleteCompletenessRuleRequest {
                    name: "completenessRules/suspension/non_residential/notice".into(),
                })
                .await,
        ));
        let expected = caller.expect(Permission::ManageRules, true, None);
        check("DeleteCompletenessRule", caller, true, expected, actual);
    }
    matrix.assert_matches_policy(7 * 9);
}
