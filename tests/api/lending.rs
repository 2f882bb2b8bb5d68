//! Electronic loans against the real server, with the server's manual clock: a borrower of
//! another province reads exactly what a custodian lent, while the loan is in force, and every
//! read appears in the register.

use std::time::Duration;

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use futures::StreamExt;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{Clients, TestApp, Token, eventually, filing, header, jpeg_page, spawn_app};

/// In county 120101: the lent archive.
const ACCOUNT: &str = "1201000001";
/// A second archive of the same county, never lent.
const OTHER: &str = "1201000002";

/// An inspector of province 13: outside the lent archive's reach, and cleared only to
/// `internal` (the identity proof is confidential).
fn inspector(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("marketing", "inspector", Some("1301"))
    }
}

/// A county custodian of 1201, whose scope covers the lent archive.
fn custodian(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

struct Archive {
    /// A confidential identity proof of two pages whose title names a phone number.
    proof: String,
    /// A public notice of the same archive.
    notice: String,
}

async fn archive(app: &mut TestApp) -> Archive {
    app.create_customer(ACCOUNT).await;
    app.create_customer(OTHER).await;
    let proof = app
        .file(filing(
            pb::FilingHeader {
                document_type: "identity-proof".into(),
                title: "客户13812345678身份证".into(),
                ..header(ACCOUNT, "proof")
            },
            &[jpeg_page(300, 1), jpeg_page(300, 2)],
            300,
        ))
        .await
        .unwrap();
    let notice = app
        .file(filing(
            pb::FilingHeader {
                document_type: "notice".into(),
                ..header(ACCOUNT, "notice")
            },
            &[jpeg_page(300, 3)],
            300,
        ))
        .await
        .unwrap();
    Archive {
        proof: proof.name,
        notice: notice.name,
    }
}

fn timestamp(app: &TestApp, from_now: TimeDelta) -> Timestamp {
    let time = custodian::domain::Clock::now(app.clock.as_ref()) + from_now;
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn item(name: &str, pages: &[i32]) -> pb::LoanItem {
    pb::LoanItem {
        name: name.into(),
        pages: pages.to_vec(),
    }
}

/// A week's loan of `items` for a dispute.
fn week(app: &TestApp, items: Vec<pb::LoanItem>) -> pb::RequestLoanRequest {
    pb::RequestLoanRequest {
        items,
        purpose: pb::LoanPurpose::Dispute.into(),
        purpose_note: "过户纠纷，法务部调阅".into(),
        start_time: None,
        due_time: Some(timestamp(app, TimeDelta::days(7))),
    }
}

fn approval(name: &str, personal_data: pb::LoanPersonalData) -> pb::ApproveLoanRequest {
    pb::ApproveLoanRequest {
        name: name.into(),
        personal_data: personal_data.into(),
        note: "同意".into(),
        ..Default::default()
    }
}

async fn request(clients: &mut Clients, request: pb::RequestLoanRequest) -> pb::Loan {
    clients
        .lending
        .request_loan(request)
        .await
        .unwrap()
        .into_inner()
}

async fn approve(
    clients: &mut Clients,
    request: pb::ApproveLoanRequest,
) -> Result<pb::Loan, tonic::Status> {
    clients
        .lending
        .approve_loan(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn get(clients: &mut Clients, name: &str) -> Result<pb::Document, Code> {
    clients
        .documents
        .get_document(pb::GetDocumentRequest {
            name: name.into(),
            version: 0,
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| status.code())
}

/// Reads a page whole; its bytes' length, or the status code.
async fn read(clients: &mut Clients, page: &str) -> Result<usize, Code> {
    let mut stream = clients
        .pages
        .read_page(pb::ReadPageRequest {
            name: page.into(),
            version: 0,
        })
        .await
        .map_err(|status| status.code())?
        .into_inner();
    let mut bytes = 0;
    while let Some(message) = stream.next().await {
        bytes += message.map_err(|status| status.code())?.chunk.len();
    }
    Ok(bytes)
}

#[tokio::test]
async fn a_loan_lends_its_documents_from_approval_until_it_is_due_then_not_found() {
    let mut app = spawn_app().await;
    let archive = archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&custodian("li"));

    assert_eq!(get(&mut zhang, &archive.proof).await, Err(Code::NotFound));
    let loan = request(&mut zhang, week(&app, vec![item(&archive.proof, &[])])).await;
    assert_eq!(loan.state(), pb::LoanState::Requested);
    assert_eq!(loan.borrower, "marketing/zhang");
    // Asked for is not lent.
    assert_eq!(get(&mut zhang, &archive.proof).await, Err(Code::NotFound));

    let approved = approve(&mut li, approval(&loan.name, pb::LoanPersonalData::Full))
        .await
        .unwrap();
    assert_eq!(approved.state(), pb::LoanState::Active);
    assert_eq!(approved.decided_by, "archive-desk/li");
    let document = get(&mut zhang, &archive.proof).await.unwrap();
    assert_eq!(document.pages.len(), 2);
    assert_eq!(
        read(&mut zhang, &format!("{}/pages/2", archive.proof)).await,
        Ok(300)
    );

    app.clock.advance(TimeDelta::days(7));
    assert_eq!(get(&mut zhang, &archive.proof).await, Err(Code::NotFound));
    assert_eq!(
        read(&mut zhang, &format!("{}/pages/1", archive.proof)).await,
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
    let archive = archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&custodian("li"));

    let returned = request(&mut zhang, week(&app, vec![item(&archive.proof, &[])])).await;
    approve(
        &mut li,
        approval(&returned.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap();
    get(&mut zhang, &archive.proof).await.unwrap();
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
    assert_eq!(get(&mut zhang, &archive.proof).await, Err(Code::NotFound));

    let revoked = request(&mut zhang, week(&app, vec![item(&archive.proof, &[])])).await;
    approve(&mut li, approval(&revoked.name, pb::LoanPersonalData::Full))
        .await
        .unwrap();
    get(&mut zhang, &archive.proof).await.unwrap();
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
    assert_eq!(get(&mut zhang, &archive.proof).await, Err(Code::NotFound));
    assert_eq!(
        read(&mut zhang, &format!("{}/pages/1", archive.proof)).await,
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
    let archive = archive(&mut app).await;
    let mut li = app.clients_as(&custodian("li"));

    // A custodian borrows too; their own request waits for another person.
    let own = request(&mut li, week(&app, vec![item(&archive.proof, &[])])).await;
    let status = approve(&mut li, approval(&own.name, pb::LoanPersonalData::Full))
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
    let status = approve(
        &mut stranger,
        approval(&own.name, pb::LoanPersonalData::Full),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(ACCOUNT) && status.message().contains("outside your scope"),
        "{}",
        status.message()
    );
    // A borrower without approve-loans cannot decide at all.
    let mut zhang = app.clients_as(&inspector("zhang"));
    let status = approve(&mut zhang, approval(&own.name, pb::LoanPersonalData::Full))
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
    let both = request(
        &mut zhang,
        week(
            &app,
            vec![
                item(&format!("customers/{OTHER}"), &[]),
                item("customers/1301000009", &[]),
            ],
        ),
    )
    .await;
    let status = approve(&mut li, approval(&both.name, pb::LoanPersonalData::Masked))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("1301000009"),
        "{}",
        status.message()
    );
    let narrowed = approve(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![item(&format!("customers/{OTHER}"), &[])],
            ..approval(&both.name, pb::LoanPersonalData::Masked)
        },
    )
    .await
    .unwrap();
    assert_eq!(narrowed.lent_items.len(), 1);
    assert_eq!(narrowed.requested_items.len(), 2);

    // Someone else of the right scope decides the custodian's own request.
    let wang = approve(
        &mut app.clients_as(&custodian("wang")),
        approval(&own.name, pb::LoanPersonalData::Full),
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
    let archive = archive(&mut app).await;
    // A counter clerk of province 13 may file and correct in their own county: not here.
    let mut clerk = app.clients_as(&Token {
        person: Some("sun".into()),
        ..Token::new("marketing", "counter-clerk", Some("1301"))
    });
    let mut li = app.clients_as(&custodian("li"));

    let loan = request(
        &mut clerk,
        week(
            &app,
            vec![item(&archive.proof, &[]), item(&archive.notice, &[])],
        ),
    )
    .await;
    // Widening is refused: a page or a document that was not asked for.
    let status = approve(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![item(&format!("customers/{OTHER}"), &[])],
            ..approval(&loan.name, pb::LoanPersonalData::Full)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let approved = approve(
        &mut li,
        pb::ApproveLoanRequest {
            items: vec![item(&archive.proof, &[1])],
            due_time: Some(timestamp(&app, TimeDelta::days(2))),
            ..approval(&loan.name, pb::LoanPersonalData::Full)
        },
    )
    .await
    .unwrap();
    assert_eq!(approved.lent_items, vec![item(&archive.proof, &[1])]);

    let lent = get(&mut clerk, &archive.proof).await.unwrap();
    assert_eq!(
        lent.pages.iter().map(|p| p.page_number).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        read(&mut clerk, &format!("{}/pages/1", archive.proof)).await,
        Ok(300)
    );
    // Another page, the document left out, an earlier version, the archive's listing, the
    // customer and the other archive stay as the clerk's own rules have them.
    assert_eq!(
        read(&mut clerk, &format!("{}/pages/2", archive.proof)).await,
        Err(Code::NotFound)
    );
    assert_eq!(get(&mut clerk, &archive.notice).await, Err(Code::NotFound));
    let version = clerk
        .documents
        .get_document(pb::GetDocumentRequest {
            name: archive.proof.clone(),
            version: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(version.code(), Code::NotFound);
    let listing = clerk
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(listing.code(), Code::NotFound);
    let customer = clerk
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{ACCOUNT}"),
        })
        .await
        .unwrap_err();
    assert_eq!(customer.code(), Code::NotFound);
    // Lent access is read-only: filing into the archive and correcting the lent document fail.
    let filed = clerk
        .documents
        .file_document(futures::stream::iter(filing(
            header(ACCOUNT, "under-loan"),
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
        get(&mut app.clients_as(&custodian("li")), &archive.proof)
            .await
            .unwrap()
            .version,
        1,
        "nothing was corrected"
    );

    // The narrowed period ends the loan sooner.
    app.clock.advance(TimeDelta::days(2));
    assert_eq!(get(&mut clerk, &archive.proof).await, Err(Code::NotFound));
    drop(app);
}

#[tokio::test]
async fn personal_data_is_shown_masked_or_in_full_as_the_approver_chose() {
    let mut app = spawn_app().await;
    let archive = archive(&mut app).await;
    let mut li = app.clients_as(&custodian("li"));
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut wang = app.clients_as(&inspector("wang"));

    let masked = request(&mut zhang, week(&app, vec![item(&archive.proof, &[])])).await;
    approve(
        &mut li,
        approval(&masked.name, pb::LoanPersonalData::Masked),
    )
    .await
    .unwrap();
    let full = request(&mut wang, week(&app, vec![item(&archive.proof, &[])])).await;
    approve(&mut li, approval(&full.name, pb::LoanPersonalData::Full))
        .await
        .unwrap();

    let title = get(&mut zhang, &archive.proof).await.unwrap().title;
    assert!(!title.contains("13812345678"), "{title}");
    assert!(title.contains("138****5678"), "{title}");
    // The inspector's role masks personal data; the approval decides under the loan.
    assert_eq!(
        get(&mut wang, &archive.proof).await.unwrap().title,
        "客户13812345678身份证"
    );
    drop(app);
}

#[tokio::test]
async fn reads_under_a_loan_appear_in_the_register_with_the_loans_name() {
    let mut app = spawn_app().await;
    let archive = archive(&mut app).await;
    let mut zhang = app.clients_as(&inspector("zhang"));
    let mut li = app.clients_as(&custodian("li"));

    let loan = request(
        &mut zhang,
        week(&app, vec![item(&format!("customers/{ACCOUNT}"), &[])]),
    )
    .await;
    approve(&mut li, approval(&loan.name, pb::LoanPersonalData::Masked))
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
    get(&mut zhang, &archive.notice).await.unwrap();
    read(&mut zhang, &format!("{}/pages/2", archive.proof))
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
            account: format!("customers/{ACCOUNT}"),
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
        account: format!("customers/{OTHER}"),
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
            account_number: ACCOUNT.into(),
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
