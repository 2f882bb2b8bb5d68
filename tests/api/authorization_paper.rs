//! The authorisation matrix of paper custody: every role × an account inside and one outside
//! its scope × each confidentiality level. Every RPC needs manage-paper-custody and a document
//! within reach and clearance (hidden as NOT_FOUND), as the policy says.

use std::collections::HashSet;

use chrono::TimeDelta;
use custodian::domain::{Clock, Confidentiality, Permission};
use custodian::proto::v1 as pb;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{Caller, Expect, Matrix, Token, called, listed, outcome, world};

fn shelf(inside: bool) -> String {
    if inside { "12" } else { "13" }.into()
}

fn location(inside: bool, level: Confidentiality) -> pb::PaperLocation {
    pb::PaperLocation {
        room: "M".into(),
        shelf: shelf(inside),
        r#box: format!("{level:?}"),
        item: "1".into(),
    }
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_on_paper_custody() {
    let world = world().await;
    let clock = world.app.clock.clone();
    for inside in [false, true] {
        let mut keeper = world.app.clients_as(&Token::new(
            "archive-desk",
            "province-custodian",
            Some(if inside { "12" } else { "13" }),
        ));
        for level in Confidentiality::ALL {
            keeper
                .paper
                .set_paper_location(pb::SetPaperLocationRequest {
                    document: world.documents[inside as usize][level as usize].clone(),
                    location: Some(location(inside, level)),
                    exists_on_paper: true,
                    reason: "矩阵".into(),
                })
                .await
                .unwrap();
        }
    }
    let due = {
        let time = clock.now() + TimeDelta::days(3);
        Timestamp {
            seconds: time.timestamp(),
            nanos: 0,
        }
    };

    let mut matrix = Matrix::default();
    let mut check =
        |rpc: &str,
         caller: &Caller,
         inside: bool,
         level: Option<Confidentiality>,
         expected: Expect,
         actual: Expect| { matrix.cell(rpc, caller, inside, level, expected, actual) };
    // Papers reported lost by an earlier caller: they cannot be signed out or lost again.
    let mut lost: HashSet<String> = HashSet::new();

    for caller in &world.callers {
        let mut c = caller.clients.clone();
        let actual = called(outcome(
            c.paper
                .list_sign_outs(pb::ListSignOutsRequest::default())
                .await,
        ));
        let expected = caller.expect(Permission::ManagePaperCustody, true, None);
        check("ListSignOuts", caller, true, None, expected, actual);

        for inside in [true, false] {
            let actual = listed(outcome(
                c.paper
                    .stocktake(pb::StocktakeRequest {
                        room: "M".into(),
                        shelf: shelf(inside),
                        r#box: String::new(),
                        found: vec![],
                    })
                    .await
                    .map(|reply| {
                        let report = reply.into_inner();
                        !(report.missing.is_empty()
                            && report.out.is_empty()
                            && report.lost.is_empty())
                    }),
            ));
            let expected = match caller.expect(Permission::ManagePaperCustody, true, None) {
                Expect::Allowed if !caller.reaches(inside) => Expect::Hidden,
                other => other,
            };
            check("Stocktake", caller, inside, None, expected, actual);

            for level in Confidentiality::ALL {
                let document = world.documents[inside as usize][level as usize].clone();
                let lvl = Some(level);
                let expected = caller.expect(Permission::ManagePaperCustody, inside, lvl);
                let stateful = |allowed_now: bool| match expected {
                    Expect::Allowed if !allowed_now => Expect::Refused(Code::FailedPrecondition),
                    other => other,
                };

                let actual = called(outcome(
                    c.paper
                        .set_paper_location(pb::SetPaperLocationRequest {
                            document: document.clone(),
                            location: Some(location(inside, level)),
                            exists_on_paper: true,
                            reason: format!("核对 by {}", caller.role),
                        })
                        .await,
                ));
                check("SetPaperLocation", caller, inside, lvl, expected, actual);

                let actual = called(outcome(
                    c.paper
                        .get_paper(pb::GetPaperRequest {
                            document: document.clone(),
                        })
                        .await,
                ));
                check("GetPaper", caller, inside, lvl, expected, actual);

                let is_lost = lost.contains(&document);
                let actual = called(outcome(
                    c.paper
                        .sign_out_paper(pb::SignOutPaperRequest {
                            document: document.clone(),
                            holder: Some(pb::PaperHolder {
                                name: "王五".into(),
                                ..Default::default()
                            }),
                            due_time: Some(due),
                            loan: String::new(),
                        })
                        .await,
                ));
                check(
                    "SignOutPaper",
                    caller,
                    inside,
                    lvl,
                    stateful(!is_lost),
                    actual,
                );

                let actual = called(outcome(
                    c.paper
                        .sign_in_paper(pb::SignInPaperRequest {
                            document: document.clone(),
                            condition: pb::PaperCondition::Complete.into(),
                            note: String::new(),
                        })
                        .await,
                ));
                check(
                    "SignInPaper",
                    caller,
                    inside,
                    lvl,
                    stateful(!is_lost),
                    actual,
                );

                let actual = called(outcome(
                    c.paper
                        .list_paper_history(pb::ListPaperHistoryRequest {
                            document: document.clone(),
                        })
                        .await,
                ));
                check("ListPaperHistory", caller, inside, lvl, expected, actual);

                let actual = called(outcome(
                    c.paper
                        .report_paper_lost(pb::ReportPaperLostRequest {
                            document: document.clone(),
                            note: format!("遗失 by {}", caller.role),
                        })
                        .await,
                ));
                check(
                    "ReportPaperLost",
                    caller,
                    inside,
                    lvl,
                    stateful(!is_lost),
                    actual,
                );
                if actual == Expect::Allowed {
                    lost.insert(document);
                }
            }
        }
    }
    matrix.assert_matches_policy(300);
    drop(world.app);
}
