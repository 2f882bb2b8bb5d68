//! The custodian's daily lending work through the `custodian` binary against the real server:
//! list the requests, approve one, sign its paper out against it, see it out, sign it in.

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use prost_types::Timestamp;

use crate::helpers::{TestApp, Token, filing, header, jpeg_page, spawn_app};

const ACCOUNT: &str = "1201000041";

/// Runs `custodian ARGS` as `token`, off the runtime's threads; its success and stdout.
pub(crate) async fn custodian(app: &TestApp, token: &Token, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_custodian"));
    command
        .args(args)
        .env("CUSTODIAN_URL", format!("http://{}", app.address))
        .env("CUSTODIAN_TOKEN", token.mint());
    let output = tokio::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "custodian {args:?}: {stdout}{stderr}"
    );
    (output.status.success(), stdout)
}

#[tokio::test]
async fn a_custodian_lists_approves_signs_out_and_signs_in_from_the_command_line() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let document = app
        .file(filing(header(ACCOUNT, "cli"), &[jpeg_page(200, 1)], 200))
        .await
        .unwrap()
        .name;
    let li = Token {
        person: Some("li".into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    };
    let mut keeper = app.clients_as(&li);
    keeper
        .paper
        .set_paper_location(pb::SetPaperLocationRequest {
            document: document.clone(),
            location: Some(pb::PaperLocation {
                room: "A-2".into(),
                shelf: "3".into(),
                r#box: "1".into(),
                item: "1".into(),
            }),
            exists_on_paper: true,
            reason: "归档".into(),
        })
        .await
        .unwrap();
    let due = custodian::domain::Clock::now(app.clock.as_ref()) + TimeDelta::days(5);
    let loan = app
        .clients_as(&Token {
            person: Some("zhang".into()),
            ..Token::new("marketing", "inspector", Some("1301"))
        })
        .lending
        .request_loan(pb::RequestLoanRequest {
            items: vec![pb::LoanItem {
                name: document.clone(),
                pages: vec![],
            }],
            purpose: pb::LoanPurpose::Audit.into(),
            purpose_note: "年度审计".into(),
            start_time: None,
            due_time: Some(Timestamp {
                seconds: due.timestamp(),
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .name;

    let (_, requests) = custodian(&app, &li, &["loans", "requests"]).await;
    assert!(
        requests.contains(&loan) && requests.contains("marketing/zhang"),
        "{requests}"
    );
    let (_, approved) = custodian(
        &app,
        &li,
        &["loans", "approve", &loan, "--personal-data", "masked"],
    )
    .await;
    assert!(approved.contains("LOAN_STATE_ACTIVE"), "{approved}");
    let (_, waiting) = custodian(&app, &li, &["loans", "requests"]).await;
    assert!(waiting.contains("0 loans"), "{waiting}");

    let (_, out) = custodian(
        &app,
        &li,
        &[
            "paper", "sign-out", &document, "--to", "王五", "--days", "3", "--loan", &loan,
        ],
    )
    .await;
    assert!(out.contains("signed out") && out.contains("王五"), "{out}");
    let (_, listed) = custodian(&app, &li, &["paper", "out"]).await;
    assert!(
        listed.contains(&document) && listed.contains("1 papers out"),
        "{listed}"
    );
    let (_, back) = custodian(
        &app,
        &li,
        &["paper", "sign-in", &document, "--condition", "complete"],
    )
    .await;
    assert!(back.contains("PAPER_STATE_IN"), "{back}");
    let (_, listed) = custodian(&app, &li, &["paper", "out"]).await;
    assert!(listed.contains("0 papers out"), "{listed}");
    drop(app);
}
