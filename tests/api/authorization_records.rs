//! The authorisation matrix of retention, legal holds and disposal: every RPC × every role of
//! the policy × inside/outside the role's scope (× confidentiality where a document is named).

use chrono::TimeDelta;
use custodian::domain::{Confidentiality, Permission};
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{
    Caller, Clients, Expect, Matrix, TestApp, Token, World, account, called, filing, header,
    jpeg_page, outcome, world,
};

/// A custodian of the province the account lies in, named so the two-person rule never stands
/// in the way of the callers (who are all `tester`).
fn province_custodian(app: &TestApp, inside: bool) -> Clients {
    let token = Token {
        person: Some("proposer".into()),
        ..Token::new(
            "archive-desk",
            "province-custodian",
            Some(if inside { "12" } else { "13" }),
        )
    };
    app.clients_as(&token)
}

fn org_unit(inside: bool) -> &'static str {
    if inside { "1201" } else { "1301" }
}

/// What each caller needs of its own, so no cell depends on another: per caller and side, a
/// notice to propose, a list to approve, a list to reject and a hold to release.
struct Fixtures {
    to_propose: String,
    to_approve: String,
    to_reject: String,
    hold: String,
}

async fn notice(clients: &mut Clients, inside: bool, request_id: String) -> String {
    let header = pb::FilingHeader {
        document_type: "notice".into(),
        ..header(account(inside), &request_id)
    };
    clients
        .documents
        .file_document(futures::stream::iter(filing(
            header,
            &[jpeg_page(300, 7)],
            300,
        )))
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn fixtures(world: &World) -> Vec<[Fixtures; 2]> {
    let mut all: Vec<[Fixtures; 2]>;
    let app = &world.app;
    let mut notices = Vec::new();
    for n in 0..world.callers.len() {
        let mut per_side = Vec::new();
        for inside in [false, true] {
            let mut custodian = province_custodian(app, inside);
            let mut filed = Vec::new();
            for purpose in ["propose", "approve", "reject"] {
                filed.push(notice(&mut custodian, inside, format!("{purpose}-{n}-{inside}")).await);
            }
            per_side.push(filed);
        }
        notices.push(per_side);
    }
    app.clock.advance(TimeDelta::days(366 * 11));
    all = Vec::new();
    for per_side in notices {
        let mut sides = Vec::new();
        for (inside, filed) in [false, true].into_iter().zip(per_side) {
            let mut custodian = province_custodian(app, inside);
            let mut lists = Vec::new();
            for document in &filed[1..] {
                let list = custodian
                    .disposal
                    .propose_destruction_list(pb::ProposeDestructionListRequest {
                        org_unit_code: org_unit(inside).into(),
                        reason: "matrix".into(),
                        documents: vec![document.clone()],
                    })
                    .await
                    .unwrap()
                    .into_inner();
                lists.push(list.name);
            }
            let mut lists = lists.into_iter();
            sides.push(Fixtures {
                to_propose: filed[0].clone(),
                to_approve: lists.next().unwrap(),
                to_reject: lists.next().unwrap(),
                hold: String::new(),
            });
        }
        let [outside, inside]: [Fixtures; 2] = sides.try_into().ok().unwrap();
        all.push([outside, inside]);
    }
    for sides in &mut all {
        for (inside, own) in [false, true].into_iter().zip(sides.iter_mut()) {
            own.hold = province_custodian(app, inside)
                .retention
                .place_legal_hold(pb::PlaceLegalHoldRequest {
                    // On a document no list holds: one on the account would block the lists.
                    parent: world.documents[inside as usize]
                        [Confidentiality::Confidential as usize]
                        .clone(),
                    reason: "fixture".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .name;
        }
    }
    all
}

/// Org-unit operations answer PERMISSION_DENIED for a unit outside scope, as ListCustomers.
fn unit_operation(caller: &Caller, permission: Permission, inside: bool) -> Expect {
    match caller.expect(permission, inside, None) {
        Expect::Refused(Code::NotFound) => Expect::Refused(Code::PermissionDenied),
        other => other,
    }
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_over_records_rules() {
    let world = world().await;
    let fixtures = fixtures(&world).await;
    let mut matrix = Matrix::default();
    let mut check = |rpc: &str, caller: &Caller, inside: bool, expected: Expect, actual: Expect| {
        matrix.cell(rpc, caller, inside, None, expected, actual)
    };

    for (n, caller) in world.callers.iter().enumerate() {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let own = &fixtures[n][inside as usize];
            for level in Confidentiality::ALL {
                let document = &world.documents[inside as usize][level as usize];
                let actual = called(outcome(
                    c.retention
                        .get_retention(pb::GetRetentionRequest {
                            name: document.clone(),
                        })
                        .await,
                ));
                let expected = caller.expect(Permission::ReadDocuments, inside, Some(level));
                check("GetRetention", caller, inside, expected, actual);

                let actual = called(outcome(
                    c.retention
                        .place_legal_hold(pb::PlaceLegalHoldRequest {
                            parent: document.clone(),
                            reason: format!("cell {n}"),
                        })
                        .await,
                ));
                let expected = caller.expect(Permission::HoldRecords, inside, Some(level));
                check("PlaceLegalHold", caller, inside, expected, actual);
            }

            let actual = called(outcome(
                c.retention
                    .list_legal_holds(pb::ListLegalHoldsRequest {
                        parent: format!("customers/{}", account(inside)),
                        show_released: true,
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::ReadHolds, inside, None);
            check("ListLegalHolds", caller, inside, expected, actual);

            let actual = called(outcome(
                c.retention
                    .release_legal_hold(pb::ReleaseLegalHoldRequest {
                        name: own.hold.clone(),
                        reason: "matrix".into(),
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::HoldRecords, inside, None);
            check("ReleaseLegalHold", caller, inside, expected, actual);

            let actual = called(outcome(
                c.retention
                    .list_expired_documents(pb::ListExpiredDocumentsRequest {
                        org_unit_code: org_unit(inside).into(),
                        ..Default::default()
                    })
                    .await,
            ));
            let expected = unit_operation(caller, Permission::AppraiseRecords, inside);
            check("ListExpiredDocuments", caller, inside, expected, actual);

            // Holds placed by the cells above would block these; release them first.
            release_cell_holds(&world.app, inside).await;

            let actual = called(outcome(
                c.disposal
                    .propose_destruction_list(pb::ProposeDestructionListRequest {
                        org_unit_code: org_unit(inside).into(),
                        reason: "matrix".into(),
                        documents: vec![own.to_propose.clone()],
                    })
                    .await,
            ));
            let expected = unit_operation(caller, Permission::AppraiseRecords, inside);
            check("ProposeDestructionList", caller, inside, expected, actual);

            let actual = called(outcome(
                c.disposal
                    .get_destruction_list(pb::GetDestructionListRequest {
                        name: own.to_approve.clone(),
                    })
                    .await,
            ));
            let expected = if !caller.can(Permission::AppraiseRecords)
                && !caller.can(Permission::ApproveDisposal)
            {
                Expect::Refused(Code::PermissionDenied)
            } else if !caller.reaches(inside) {
                Expect::Refused(Code::NotFound)
            } else {
                Expect::Allowed
            };
            check("GetDestructionList", caller, inside, expected, actual);

            let actual = called(outcome(
                c.disposal
                    .approve_destruction_list(pb::ApproveDestructionListRequest {
                        name: own.to_approve.clone(),
                        note: String::new(),
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::ApproveDisposal, inside, None);
            check("ApproveDestructionList", caller, inside, expected, actual);

            let actual = called(outcome(
                c.disposal
                    .reject_destruction_list(pb::RejectDestructionListRequest {
                        name: own.to_reject.clone(),
                        note: "matrix".into(),
                    })
                    .await,
            ));
            let expected = caller.expect(Permission::ApproveDisposal, inside, None);
            check("RejectDestructionList", caller, inside, expected, actual);
        }
    }
    matrix.assert_matches_policy(151);
}

/// Releases the holds the PlaceLegalHold cells placed on the account's documents.
async fn release_cell_holds(app: &TestApp, inside: bool) {
    let mut custodian = province_custodian(app, inside).retention;
    let holds = custodian
        .list_legal_holds(pb::ListLegalHoldsRequest {
            parent: format!("customers/{}", account(inside)),
            show_released: false,
        })
        .await
        .unwrap()
        .into_inner()
        .legal_holds;
    for hold in holds.into_iter().filter(|h| h.reason.starts_with("cell ")) {
        custodian
            .release_legal_hold(pb::ReleaseLegalHoldRequest {
                name: hold.name,
                reason: "matrix".into(),
            })
            .await
            .unwrap();
    }
}
