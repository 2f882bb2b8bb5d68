//! Electronic loans against the real server, with the server's manual clock: a borrower of
//! another province reads exactly what a custodian lent, while the loan is in force.

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{
    LENT_ACCOUNT, LENT_OTHER, Token, approve_loan, clock_time, county_custodian, filing,
    get_document, header, inspector, jpeg_page, lent_archive, loan_approval, loan_item,
    read_whole_page, request_loan, spawn_app, week,
};

#[tokio::test]
async fn a_loan_lends_its_documents_from_approval_until_it_is_due_then_not_found() {
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&county_custodian("li"));

    assert_eq!(
        get_document(&mut zhang, &archive.proof).await,
        Err(Code::NotFound)
    );
    let loan = request_loan(&mut zhang, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    assert_eq!(loan.state(), pb::LoanState::Requested);
    assert_eq!(loan.borrower, "marketing/zhang");
    // Asked for is not lent.
    assert_eq!(
        get_document(&mut zhang, &archive.proof).await,
        Err(Code::NotFound)
    );

    let approved = approve_loan(
        &mut li,
        loan_approval(&loan.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();
    assert_eq!(approved.state(), pb::LoanState::Active);
    assert_eq!(approved.decided_by, "archive-desk/li");
    let document = get_document(&mut zhang, &archive.proof).await.unwrap();
    assert_eq!(document.pages.len(), 2);
    assert_eq!(
        read_whole_page(&mut zhang, &format!("{}/pages/2", archive.proof)).await,
        Ok(300)
    );

    app.clock.advance(TimeDelta::days(7));
    assert_eq!(
        get_document(&mut zhang, &archive.proof).await,
        Err(Code::NotFound)
    );
    assert_eq!(
        read_whole_page(&mut zhang, &format!("{}/pages/1", archive.proof)).await,
        Err(Code::NotFound)
    );
    let ended = zhang
        .lending
        .get_loan(pb::GetLoanRequest {
            name: loan.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.state(), pb::LoanState::Expired);
    drop(app);
}

#[tokio::test]
async fn a_return_and_a_revocation_take_effect_on_the_next_call() {
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&county_custodian("li"));

    let returned = request_loan(&mut zhang, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    approve_loan(
        &mut li,
        loan_approval(&returned.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();
    get_document(&mut zhang, &archive.proof).await.unwrap();
    let back = zhang
        .lending
        .return_loan(pb::ReturnLoanRequest {
            name: returned.name.clone(),
            note: "已阅毕".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.state(), pb::LoanState::Returned);
    assert_eq!(back.ended_by, "marketing/zhang");
    assert_eq!(
        get_document(&mut zhang, &archive.proof).await,
        Err(Code::NotFound)
    );

    let revoked = request_loan(&mut zhang, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    approve_loan(
        &mut li,
        loan_approval(&revoked.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();
    get_document(&mut zhang, &archive.proof).await.unwrap();
    // Only a custodian revokes, with a reason.
    let status = zhang
        .lending
        .revoke_loan(pb::RevokeLoanRequest {
            name: revoked.name.clone(),
            note: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    li.lending
        .revoke_loan(pb::RevokeLoanRequest {
            name: revoked.name.clone(),
            note: "纠纷已结".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        get_document(&mut zhang, &archive.proof).await,
        Err(Code::NotFound)
    );
    assert_eq!(
        read_whole_page(&mut zhang, &format!("{}/pages/1", archive.proof)).await,
        Err(Code::NotFound)
    );
    // A revoked loan cannot be returned or revoked again.
    let status = zhang
        .lending
        .return_loan(pb::ReturnLoanRequest {
            name: revoked.name.clone(),
            note: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    drop(app);
}

#[tokio::test]
async fn the_borrower_cannot_approve_and_an_approver_outside_scope_is_refused() {
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    let mut li = app.clients_as(&county_custodian("li"));

    // A custodian borrows too; their own request waits for another person.
    let own = request_loan(&mut li, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    let status = approve_loan(
        &mut li,
        loan_approval(&own.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("your own"),
        "{}",
        status.message()
    );

    // A custodian of province 13 covers none of it.
    let mut stranger = app.clients_as(&Token {
        person: Some("zhao".into()),
        ..Token::new("archive-desk", "county-custodian", Some("1301"))
    });
    let status = approve_loan(
        &mut stranger,
        loan_approval(&own.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(LENT_ACCOUNT) && status.message().contains("outside your scope"),
        "{}",
        status.message()
    );
    // A borrower without approve-loans cannot decide at all.
    let mut zhang = app.clients_as(&inspector("zhang"));
    let status = approve_loan(
        &mut zhang,
        loan_approval(&own.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A request spanning two provinces' archives is refused as a whole; the custodian may
    // lend the part in their scope.
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(crate::helpers::customer("1301000009", "130101")),
        })
        .await
        .unwrap_err(); // the province-12 custodian cannot open it: outside its scope
    let mut thirteen = app.clients_as(&Token::new(
        "archive-desk",
        "province-custodian",
        Some("13"),
    ));
    thirteen
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(crate::helpers::customer("1301000009", "130101")),
        })
        .await
        .unwrap();
    let both = request_loan(
        &mut zhang,
        week(
            &app,
            vec![
                loan_item(&format!("customers/{LENT_OTHER}"), &[]),
                loan_item("customers/1301000009", &[]),
            ],
        ),
    )
    .await;
    let status = approve_loan(
        &mut li,
        loan_approval(&both.name, pb::LoanPersonalData::Masked),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("1301000009"),
        "{}",
        status.message()
    );
    let narrowed = approve_loan(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![loan_item(&format!("customers/{LENT_OTHER}"), &[])],
            ..loan_approval(&both.name, pb::LoanPersonalData::Masked)
        },
    )
    .await
    .unwrap();
    assert_eq!(narrowed.lent_items.len(), 1);
    assert_eq!(narrowed.requested_items.len(), 2);

    // Someone else of the right scope decides the custodian's own request.
    let wang = approve_loan(
        &mut app.clients_as(&county_custodian("wang")),
        loan_approval(&own.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();
    assert_eq!(wang.state(), pb::LoanState::Active);
    drop(app);
}

#[tokio::test]
async fn a_narrowed_approval_lends_only_what_was_approved_and_nothing_beyond_the_loan_is_readable()
{
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    // A counter clerk of province 13 may file and correct in their own county: not here.
    let mut clerk = app.clients_as(&Token {
        person: Some("sun".into()),
        ..Token::new("marketing", "counter-clerk", Some("1301"))
    });
    let mut li = app.clients_as(&county_custodian("li"));

    let loan = request_loan(
        &mut clerk,
        week(
            &app,
            vec![
                loan_item(&archive.proof, &[]),
                loan_item(&archive.notice, &[]),
            ],
        ),
    )
    .await;
    // Widening is refused: a page or a document that was not asked for.
    let status = approve_loan(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![loan_item(&format!("customers/{LENT_OTHER}"), &[])],
            ..loan_approval(&loan.name, pb::LoanPersonalData::Full)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let approved = approve_loan(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![loan_item(&archive.proof, &[1])],
            due_time: Some(clock_time(&app, TimeDelta::days(2))),
            ..loan_approval(&loan.name, pb::LoanPersonalData::Full)
        },
    )
    .await
    .unwrap();
    assert_eq!(approved.lent_items, vec![loan_item(&archive.proof, &[1])]);

    let lent = get_document(&mut clerk, &archive.proof).await.unwrap();
    assert_eq!(
        lent.pages.iter().map(|p| p.page_number).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        read_whole_page(&mut clerk, &format!("{}/pages/1", archive.proof)).await,
        Ok(300)
    );
    // Another page, the document left out, an earlier version, the archive's listing, the
    // customer and the other archive stay as the clerk's own rules have them.
    assert_eq!(
        read_whole_page(&mut clerk, &format!("{}/pages/2", archive.proof)).await,
        Err(Code::NotFound)
    );
    assert_eq!(
        get_document(&mut clerk, &archive.notice).await,
        Err(Code::NotFound)
    );
    let version = clerk
        .documents
        .get_document(pb::GetDocumentRequest {
            name: archive.proof.clone(),
            version: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(version.code(), Code::NotFound);
    let listing = clerk
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: format!("customers/{LENT_ACCOUNT}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(listing.code(), Code::NotFound);
    let customer = clerk
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{LENT_ACCOUNT}"),
        })
        .await
        .unwrap_err();
    assert_eq!(customer.code(), Code::NotFound);
    // Lent access is read-only: filing into the archive and correcting the lent document fail.
    let filed = clerk
        .documents
        .file_document(futures::stream::iter(filing(
            header(LENT_ACCOUNT, "under-loan"),
            &[jpeg_page(200, 9)],
            200,
        )))
        .await
        .unwrap_err();
    assert_eq!(filed.code(), Code::NotFound, "{filed:?}");
    let corrected = crate::helpers::correct(
        &mut clerk,
        crate::helpers::retitle(&archive.proof, 1, "改"),
        vec![],
    )
    .await
    .unwrap_err();
    assert_eq!(corrected.code(), Code::PermissionDenied, "{corrected:?}");
    assert_eq!(
        get_document(&mut app.clients_as(&county_custodian("li")), &archive.proof)
            .await
            .unwrap()
            .version,
        1,
        "nothing was corrected"
    );

    // The narrowed period ends the loan sooner.
    app.clock.advance(TimeDelta::days(2));
    assert_eq!(
        get_document(&mut clerk, &archive.proof).await,
        Err(Code::NotFound)
    );
    drop(app);
}

#[tokio::test]
async fn personal_data_is_shown_masked_or_in_full_as_the_approver_chose() {
    let mut app = spawn_app().await;
    let archive = lent_archive(&mut app).await;
    let mut li = app.clients_as(&county_custodian("li"));
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut wang = app.clients_as(&inspector("wang"));

    let masked = request_loan(&mut zhang, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    approve_loan(
        &mut li,
        loan_approval(&masked.name, pb::LoanPersonalData::Masked),
    )
    .await
    .unwrap();
    let full = request_loan(&mut wang, week(&app, vec![loan_item(&archive.proof, &[])])).await;
    approve_loan(
        &mut li,
        loan_approval(&full.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();

    let title = get_document(&mut zhang, &archive.proof)
        .await
        .unwrap()
        .title;
    assert!(!title.contains("13812345678"), "{title}");
    assert!(title.contains("138****5678"), "{title}");
    // The inspector's role masks personal data; the approval decides under the loan.
    assert_eq!(
        get_document(&mut wang, &archive.proof).await.unwrap().title,
        "客户13812345678身份证"
    );
    drop(app);
}
