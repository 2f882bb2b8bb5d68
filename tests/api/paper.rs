//! Paper originals against the real server, with the manual clock: where each paper is kept
//! (with its history), signing out once and back in, overdue and lost papers, and a stocktake.

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{Clients, TestApp, Token, filing, header, jpeg_page, spawn_app};

const ACCOUNT: &str = "1201000031";

fn keeper(app: &TestApp) -> Clients {
    app.clients_as(&Token {
        person: Some("li".into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    })
}

fn at(app: &TestApp, from_now: TimeDelta) -> Timestamp {
    let time = custodian::domain::Clock::now(app.clock.as_ref()) + from_now;
    Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

/// `count` documents of one account.
async fn documents(app: &mut TestApp, count: usize) -> Vec<String> {
    app.create_customer(ACCOUNT).await;
    let mut names = Vec::new();
    for n in 0..count {
        let filed = app
            .file(filing(
                header(ACCOUNT, &format!("paper-{n}")),
                &[jpeg_page(200, n as u64)],
                200,
            ))
            .await
            .unwrap();
        names.push(filed.name);
    }
    names
}

fn place(shelf: &str, box_number: &str, item: &str) -> pb::PaperLocation {
    pb::PaperLocation {
        room: "A-2".into(),
        shelf: shelf.into(),
        r#box: box_number.into(),
        item: item.into(),
    }
}

async fn locate(clients: &mut Clients, document: &str, location: pb::PaperLocation) -> pb::Paper {
    clients
        .paper
        .set_paper_location(pb::SetPaperLocationRequest {
            document: document.into(),
            location: Some(location),
            exists_on_paper: true,
            reason: "归档".into(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn sign_out(app: &TestApp, document: &str, days: i64, loan: &str) -> pb::SignOutPaperRequest {
    pb::SignOutPaperRequest {
        document: document.into(),
        holder: Some(pb::PaperHolder {
            name: "王五".into(),
            org_unit_code: "130101".into(),
            contact: "13812345678".into(),
        }),
        due_time: Some(at(app, TimeDelta::days(days))),
        loan: loan.into(),
    }
}

#[tokio::test]
async fn a_paper_cannot_be_signed_out_twice_and_comes_back_with_its_condition() {
    let mut app = spawn_app().await;
    let names = documents(&mut app, 2).await;
    let mut li = keeper(&app);
    let located = locate(&mut li, &names[0], place("12-3", "7", "1")).await;
    assert_eq!(located.state(), pb::PaperState::In);
    assert_eq!(located.revision, 1);
    // Moved to another box: a new revision, the first kept in the history.
    let moved = locate(&mut li, &names[0], place("12-3", "8", "4")).await;
    assert_eq!(moved.revision, 2);

    // A loan of the other document does not cover this paper.
    let mut zhang = app.clients_as(&Token {
        person: Some("zhang".into()),
        ..Token::new("marketing", "inspector", Some("1301"))
    });
    let loan = zhang
        .lending
        .request_loan(pb::RequestLoanRequest {
            items: vec![pb::LoanItem {
                name: names[1].clone(),
                pages: vec![],
            }],
            purpose: pb::LoanPurpose::BusinessHandling.into(),
            purpose_note: "过户".into(),
            start_time: None,
            due_time: Some(at(&app, TimeDelta::days(10))),
        })
        .await
        .unwrap()
        .into_inner();
    li.lending
        .approve_loan(pb::ApproveLoanRequest {
            name: loan.name.clone(),
            personal_data: pb::LoanPersonalData::Masked.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = li
        .paper
        .sign_out_paper(sign_out(&app, &names[0], 5, &loan.name))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let out = li
        .paper
        .sign_out_paper(sign_out(&app, &names[0], 5, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.state(), pb::PaperState::Out);
    assert_eq!(
        out.sign_out.as_ref().unwrap().holder.as_ref().unwrap().name,
        "王五"
    );
    let status = li
        .paper
        .sign_out_paper(sign_out(&app, &names[0], 5, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("signed back in"),
        "{}",
        status.message()
    );

    let back = li
        .paper
        .sign_in_paper(pb::SignInPaperRequest {
            document: names[0].clone(),
            condition: pb::PaperCondition::Damaged.into(),
            note: "第2页破损".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.state(), pb::PaperState::In);
    let status = li
        .paper
        .sign_in_paper(pb::SignInPaperRequest {
            document: names[0].clone(),
            condition: pb::PaperCondition::Complete.into(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    // Against the loan that lends it, the other paper signs out.
    locate(&mut li, &names[1], place("12-3", "8", "5")).await;
    let lent = li
        .paper
        .sign_out_paper(sign_out(&app, &names[1], 5, &loan.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lent.sign_out.unwrap().loan, loan.name);

    let history = li
        .paper
        .list_paper_history(pb::ListPaperHistoryRequest {
            document: names[0].clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["location", "location", "signed_out", "signed_in"]);
    assert_eq!(history[0].location.as_ref().unwrap().r#box, "7");
    let signed_in = history[3].sign_out.as_ref().unwrap();
    assert_eq!(signed_in.condition(), pb::PaperCondition::Damaged);
    assert_eq!(signed_in.signed_in_by, "archive-desk/li");

    // Someone without the permission, or outside the scope, sees nothing of it.
    let status = zhang
        .paper
        .get_paper(pb::GetPaperRequest {
            document: names[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .clients_as(&Token::new(
            "archive-desk",
            "county-custodian",
            Some("1301"),
        ))
        .paper
        .get_paper(pb::GetPaperRequest {
            document: names[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    drop(app);
}

#[tokio::test]
async fn overdue_and_lost_papers_are_listed_and_a_born_digital_record_has_no_paper() {
    let mut app = spawn_app().await;
    let names = documents(&mut app, 3).await;
    let mut li = keeper(&app);
    for (n, name) in names.iter().take(2).enumerate() {
        locate(&mut li, name, place("1", "1", &n.to_string())).await;
    }
    li.paper
        .sign_out_paper(sign_out(&app, &names[0], 1, ""))
        .await
        .unwrap();
    li.paper
        .sign_out_paper(sign_out(&app, &names[1], 30, ""))
        .await
        .unwrap();
    let register = li.clone();
    let listed = |overdue_only: bool, include_returned: bool| {
        let mut li = register.clone();
        async move {
            li.paper
                .list_sign_outs(pb::ListSignOutsRequest {
                    overdue_only,
                    include_returned,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .sign_outs
        }
    };
    assert_eq!(listed(false, false).await.len(), 2);
    assert!(listed(true, false).await.is_empty());
    app.clock.advance(TimeDelta::days(2));
    let overdue = listed(true, false).await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].document, names[0]);
    assert!(overdue[0].overdue);

    // The second paper is lost while out: its sign-out closes as lost.
    let lost = li
        .paper
        .report_paper_lost(pb::ReportPaperLostRequest {
            document: names[1].clone(),
            note: "借阅人称遗失".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lost.state(), pb::PaperState::Lost);
    assert_eq!(lost.lost_by, "archive-desk/li");
    let register = listed(false, true).await;
    let closed = register.iter().find(|s| s.document == names[1]).unwrap();
    assert_eq!(closed.condition(), pb::PaperCondition::Lost);
    assert_eq!(
        listed(false, false).await.len(),
        1,
        "only the overdue paper is out now"
    );
    let status = li
        .paper
        .sign_out_paper(sign_out(&app, &names[1], 3, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let digital = li
        .paper
        .set_paper_location(pb::SetPaperLocationRequest {
            document: names[2].clone(),
            location: None,
            exists_on_paper: false,
            reason: "电子原生".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(digital.state(), pb::PaperState::None);
    let status = li
        .paper
        .sign_out_paper(sign_out(&app, &names[2], 3, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    drop(app);
}

#[tokio::test]
async fn a_stocktake_finds_a_missing_a_misplaced_and_an_out_item() {
    let mut app = spawn_app().await;
    let names = documents(&mut app, 5).await;
    let mut li = keeper(&app);
    // Box 7 of shelf 12-3 holds the first three; the fourth is on another shelf; the fifth
    // has no location recorded.
    for (n, name) in names.iter().take(3).enumerate() {
        locate(&mut li, name, place("12-3", "7", &n.to_string())).await;
    }
    locate(&mut li, &names[3], place("9-1", "2", "1")).await;
    li.paper
        .sign_out_paper(sign_out(&app, &names[2], 5, ""))
        .await
        .unwrap();
    let stranger = format!("customers/{ACCOUNT}/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e");
    let report = li
        .paper
        .stocktake(pb::StocktakeRequest {
            room: "A-2".into(),
            shelf: "12-3".into(),
            r#box: "7".into(),
            found: vec![
                names[0].clone(),
                names[3].clone(),
                names[4].clone(),
                stranger.clone(),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.present, 1);
    let documents = |items: &[pb::StocktakeItem]| -> Vec<String> {
        items.iter().map(|item| item.document.clone()).collect()
    };
    assert_eq!(documents(&report.missing), [names[1].clone()]);
    assert_eq!(documents(&report.out), [names[2].clone()]);
    assert_eq!(
        documents(&report.misplaced),
        [names[3].clone(), names[4].clone()]
    );
    assert_eq!(report.misplaced[0].recorded.as_ref().unwrap().shelf, "9-1");
    assert!(report.misplaced[1].recorded.is_none());
    assert_eq!(report.unknown, [stranger]);
    drop(app);
}

#[tokio::test]
async fn a_paper_location_is_recorded_at_filing_by_a_keeper_only() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let with_paper = |request_id: &str| pb::FilingHeader {
        paper_location: Some(place("5-1", "2", "9")),
        ..header(ACCOUNT, request_id)
    };
    let filed = app
        .file(filing(
            with_paper("filed-with-paper"),
            &[jpeg_page(200, 1)],
            200,
        ))
        .await
        .unwrap();
    let paper = keeper(&app)
        .paper
        .get_paper(pb::GetPaperRequest {
            document: filed.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paper.revision, 1);
    assert_eq!(paper.reason, "filed");
    assert_eq!(paper.location.as_ref().unwrap().item, "9");
    assert_eq!(paper.state(), pb::PaperState::In);

    // A counter clerk files scans; the paper's place is the keepers' record.
    let mut clerk = app.clients_as(&Token::new("marketing", "counter-clerk", Some("1201")));
    let status = clerk
        .documents
        .file_document(futures::stream::iter(filing(
            with_paper("clerk-with-paper"),
            &[jpeg_page(200, 2)],
            200,
        )))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    drop(app);
}
