//! The authorisation matrix of lending: every role × an account inside and one outside its
//! scope × each confidentiality level, as `authorization.rs` does for the core RPCs. The
//! expectations come from the policy: request-loans to borrow, approve-loans (and a scope
//! covering the account, and a clearance covering the document) to decide, and under one's own
//! loan the reads one's role permits, whatever the reach or clearance.

use chrono::TimeDelta;
use custodian::domain::{Clock, Confidentiality, Permission};
use custodian::proto::v1 as pb;
use futures::StreamExt;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{
    Caller, Clients, Expect, Matrix, Token, account, called, listed, outcome, world,
};

fn due(clock: &dyn Clock) -> Timestamp {
    let time = clock.now() + TimeDelta::days(7);
    Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

fn ask(document: &str, clock: &dyn Clock) -> pb::RequestLoanRequest {
    pb::RequestLoanRequest {
        items: vec![pb::LoanItem {
            name: document.into(),
            pages: vec![],
        }],
        purpose: pb::LoanPurpose::Audit.into(),
        purpose_note: "矩阵".into(),
        start_time: None,
        due_time: Some(due(clock)),
    }
}

fn approval(name: &str) -> pb::ApproveLoanRequest {
    pb::ApproveLoanRequest {
        name: name.into(),
        personal_data: pb::LoanPersonalData::Masked.into(),
        ..Default::default()
    }
}

async fn requested(clients: &mut Clients, document: &str, clock: &dyn Clock) -> String {
    clients
        .lending
        .request_loan(ask(document, clock))
        .await
        .unwrap()
        .into_inner()
        .name
}

async fn approved(
    borrower: &mut Clients,
    keeper: &mut Clients,
    document: &str,
    clock: &dyn Clock,
) -> String {
    let name = requested(borrower, document, clock).await;
    keeper.lending.approve_loan(approval(&name)).await.unwrap();
    name
}

async fn read_page(clients: &mut Clients, page: String) -> Result<(), Code> {
    let mut stream = outcome(
        clients
            .pages
            .read_page(pb::ReadPageRequest {
                name: page,
                ..Default::default()
            })
            .await,
    )?
    .into_inner();
    while let Some(message) = stream.next().await {
        outcome(message)?;
    }
    Ok(())
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants_on_lending() {
    let world = world().await;
    let clock = world.app.clock.clone();
    let clock = clock.as_ref();
    let mut borrower = world.app.clients_as(&Token {
        person: Some("borrower".into()),
        ..Token::new("marketing", "inspector", Some("1301"))
    });
    // Another person than every caller ("tester"), for each province.
    let mut keepers = [false, true].map(|inside| {
        world.app.clients_as(&Token {
            person: Some("keeper".into()),
            ..Token::new(
                "archive-desk",
                "province-custodian",
                Some(if inside { "12" } else { "13" }),
            )
        })
    });
    // The borrower's loans in force, one per document, that callers look at.
    let mut shared = [Vec::new(), Vec::new()];
    for inside in [false, true] {
        for level in Confidentiality::ALL {
            let document = &world.documents[inside as usize][level as usize];
            let name = approved(
                &mut borrower,
                &mut keepers[inside as usize],
                document,
                clock,
            )
            .await;
            shared[inside as usize].push(name);
        }
    }

    let mut matrix = Matrix::default();
    let mut check =
        |rpc: &str,
         caller: &Caller,
         inside: bool,
         level: Option<Confidentiality>,
         expected: Expect,
         actual: Expect| { matrix.cell(rpc, caller, inside, level, expected, actual) };
    let refused = |permission: Permission, caller: &Caller, otherwise: Expect| {
        if caller.can(permission) {
            otherwise
        } else {
            Expect::Refused(Code::PermissionDenied)
        }
    };

    for caller in &world.callers {
        let mut c = caller.clients.clone();
        for inside in [true, false] {
            let keeper = &mut keepers[inside as usize];
            // A custodian decides within scope, what their clearance lets them see.
            let decides = |level: Option<Confidentiality>| {
                if caller.can(Permission::ApproveLoans)
                    && caller.reaches(inside)
                    && level.is_none_or(|level| caller.sees(level))
                {
                    Expect::Allowed
                } else {
                    Expect::Refused(Code::PermissionDenied)
                }
            };

            let actual = listed(outcome(
                c.lending
                    .list_loans(pb::ListLoansRequest {
                        account: format!("customers/{}", account(inside)),
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await
                    .map(|reply| {
                        let loans = reply.into_inner().loans;
                        loans
                            .iter()
                            .any(|loan| loan.name == shared[inside as usize][0])
                    }),
            ));
            let expected = if caller.can(Permission::ApproveLoans) {
                if caller.reaches(inside) {
                    Expect::Allowed
                } else {
                    Expect::Hidden
                }
            } else {
                refused(Permission::RequestLoans, caller, Expect::Hidden)
            };
            check("ListLoans", caller, inside, None, expected, actual);

            for level in Confidentiality::ALL {
                let document = &world.documents[inside as usize][level as usize];
                let theirs = &shared[inside as usize][level as usize];
                let lvl = Some(level);

                let name = requested(&mut borrower, document, clock).await;
                let actual = called(outcome(c.lending.approve_loan(approval(&name)).await));
                check("ApproveLoan", caller, inside, lvl, decides(lvl), actual);

                let name = requested(&mut borrower, document, clock).await;
                let actual = called(outcome(
                    c.lending
                        .reject_loan(pb::RejectLoanRequest {
                            name,
                            note: "不予出借".into(),
                        })
                        .await,
                ));
                check("RejectLoan", caller, inside, lvl, decides(None), actual);

                let name = approved(&mut borrower, keeper, document, clock).await;
                let actual = called(outcome(
                    c.lending
                        .revoke_loan(pb::RevokeLoanRequest {
                            name,
                            note: "收回".into(),
                        })
                        .await,
                ));
                check("RevokeLoan", caller, inside, lvl, decides(None), actual);

                // Another person's loan: seen by the custodians whose scope covers it.
                let sees_loan = if caller.can(Permission::ApproveLoans) && caller.reaches(inside) {
                    Expect::Allowed
                } else {
                    Expect::Refused(Code::NotFound)
                };
                let actual = called(outcome(
                    c.lending
                        .get_loan(pb::GetLoanRequest {
                            name: theirs.clone(),
                        })
                        .await,
                ));
                check("GetLoan", caller, inside, lvl, sees_loan, actual);
                let actual = called(outcome(
                    c.lending
                        .list_loan_reads(pb::ListLoanReadsRequest {
                            parent: theirs.clone(),
                            ..Default::default()
                        })
                        .await,
                ));
                check("ListLoanReads", caller, inside, lvl, sees_loan, actual);
                let actual = called(outcome(
                    c.lending
                        .list_loan_documents(pb::ListLoanDocumentsRequest {
                            parent: theirs.clone(),
                            ..Default::default()
                        })
                        .await,
                ));
                let expected = refused(
                    Permission::ReadDocuments,
                    caller,
                    Expect::Refused(Code::NotFound),
                );
                check(
                    "ListLoanDocuments(another's)",
                    caller,
                    inside,
                    lvl,
                    expected,
                    actual,
                );

                // One's own loan: what the role may read, wherever the document lies.
                let asked = outcome(c.lending.request_loan(ask(document, clock)).await);
                let expected = refused(Permission::RequestLoans, caller, Expect::Allowed);
                check(
                    "RequestLoan",
                    caller,
                    inside,
                    lvl,
                    expected,
                    called(asked.as_ref().map(|_| ()).map_err(|code| *code)),
                );
                let Ok(own) = asked else {
                    let actual = called(outcome(
                        c.lending
                            .return_loan(pb::ReturnLoanRequest {
                                name: theirs.clone(),
                                note: String::new(),
                            })
                            .await,
                    ));
                    let expected = Expect::Refused(Code::PermissionDenied);
                    check("ReturnLoan", caller, inside, lvl, expected, actual);
                    continue;
                };
                let own = own.into_inner().name;
                keeper.lending.approve_loan(approval(&own)).await.unwrap();
                let actual = called(outcome(
                    c.documents
                        .get_document(pb::GetDocumentRequest {
                            name: document.clone(),
                            ..Default::default()
                        })
                        .await,
                ));
                let expected = refused(Permission::ReadDocuments, caller, Expect::Allowed);
                check(
                    "GetDocument(own loan)",
                    caller,
                    inside,
                    lvl,
                    expected,
                    actual,
                );
                let actual = called(read_page(&mut c, format!("{document}/pages/1")).await);
                let expected = refused(Permission::ReadPages, caller, Expect::Allowed);
                check("ReadPage(own loan)", caller, inside, lvl, expected, actual);
                let actual = listed(outcome(
                    c.lending
                        .list_loan_documents(pb::ListLoanDocumentsRequest {
                            parent: own.clone(),
                            ..Default::default()
                        })
                        .await
                        .map(|reply| {
                            reply
                                .into_inner()
                                .documents
                                .iter()
                                .any(|d| d.name == *document)
                        }),
                ));
                let expected = refused(Permission::ReadDocuments, caller, Expect::Allowed);
                check(
                    "ListLoanDocuments(own)",
                    caller,
                    inside,
                    lvl,
                    expected,
                    actual,
                );
                let actual = called(outcome(
                    c.lending
                        .return_loan(pb::ReturnLoanRequest {
                            name: own,
                            note: String::new(),
                        })
                        .await,
                ));
                check("ReturnLoan", caller, inside, lvl, Expect::Allowed, actual);
            }
        }
    }
    matrix.assert_matches_policy(500);
    drop(world.app);
}
