//! The loan register against the real server: reads under a loan are recorded with its name
//! and listed per loan; the register answers by borrower, account, org unit and state.

use std::time::Duration;

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{
    LENT_ACCOUNT, LENT_OTHER, Token, approve_loan, county_custodian, eventually, get_document,
    inspector, lent_archive, loan_approval, loan_item, read_whole_page, request_loan, spawn_app,
    week,
};

#[tokio::test]
async fn reads_under_a_loan_appear_in_the_register_with_the_loans_name() {
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&county_custodian("li"));

    let loan = request_loan(
        &mut zhang,
        week(
            &app,
            vec![loan_item(&format!("customers/{LENT_ACCOUNT}"), &[])],
        ),
    )
    .await;
    approve_loan(
        &mut li,
        loan_approval(&loan.name, pb::LoanPersonalData::Masked),
    )
    .await
    .unwrap();
    // A whole archive: the loan's documents list both; normal listings still show none.
    let lent = zhang
        .lending
        .list_loan_documents(pb::ListLoanDocumentsRequest {
            parent: loan.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut names: Vec<String> = lent.documents.into_iter().map(|d| d.name).collect();
    names.sort();
    let mut expected = vec![archive.proof.clone(), archive.notice.clone()];
    expected.sort();
    assert_eq!(names, expected);
    get_document(&mut zhang, &archive.notice).await.unwrap();
    read_whole_page(&mut zhang, &format!("{}/pages/2", archive.proof))
        .await
        .unwrap();
    // Others may not list the loan's documents.
    let status = li
        .lending
        .list_loan_documents(pb::ListLoanDocumentsRequest {
            parent: loan.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let page = format!("{}/pages/2", archive.proof);
    let mut register = li.clone();
    let name = loan.name.clone();
    eventually(Duration::from_secs(5), "the reads in the register", || {
        let mut register = register.clone();
        let name = name.clone();
        let page = page.clone();
        let notice = archive.notice.clone();
        async move {
            let reads = register
                .lending
                .list_loan_reads(pb::ListLoanReadsRequest {
                    parent: name,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .reads;
            let seen = |action: &str, resource: &str| {
                reads
                    .iter()
                    .any(|r| r.action == action && r.resource == resource && r.outcome == "ok")
            };
            seen("ReadPage", &page) && seen("GetDocument", &notice) && reads.len() == 3
        }
    })
    .await;

    // The register by borrower, account, org unit and state.
    let listed = |request: pb::ListLoansRequest| {
        let mut register = register.clone();
        async move {
            register
                .lending
                .list_loans(request)
                .await
                .unwrap()
                .into_inner()
                .loans
                .into_iter()
                .map(|loan| loan.name)
                .collect::<Vec<_>>()
        }
    };
    let only = vec![loan.name.clone()];
    for request in [
        pb::ListLoansRequest {
            borrower: "marketing/zhang".into(),
            ..Default::default()
        },
        pb::ListLoansRequest {
            account: format!("customers/{LENT_ACCOUNT}"),
            ..Default::default()
        },
        pb::ListLoansRequest {
            org_unit_code: "1201".into(),
            state: pb::LoanState::Active.into(),
            ..Default::default()
        },
    ] {
        assert_eq!(listed(request.clone()).await, only, "{request:?}");
    }
    let none = listed(pb::ListLoansRequest {
        account: format!("customers/{LENT_OTHER}"),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    app.clock.advance(TimeDelta::days(8));
    let expired = listed(pb::ListLoansRequest {
        state: pb::LoanState::Expired.into(),
        ..Default::default()
    })
    .await;
    assert_eq!(expired, only);
    // A custodian of another province does not see it in theirs; the borrower sees their own.
    let mut stranger = app.clients_as(&Token::new(
        "archive-desk",
        "county-custodian",
        Some("1301"),
    ));
    let theirs = stranger
        .lending
        .list_loans(pb::ListLoansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .loans;
    assert!(theirs.is_empty());
    let own = zhang
        .lending
        .list_loans(pb::ListLoansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .loans;
    assert_eq!(own.len(), 1);
    register = li;
    let audit = register
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: LENT_ACCOUNT.into(),
            action: "ReadPage".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        audit
            .events
            .iter()
            .any(|event| event.details.contains(&loan.name) && event.person == "zhang"),
        "{:?}",
        audit.events
    );
    drop(app);
}
