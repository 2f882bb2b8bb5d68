//! Loans as the lending tests make them: an archive of one county with a confidential and a
//! public document, borrowers of another province, the custodians who decide, and the reads.

use chrono::TimeDelta;
use custodian::proto::v1 as pb;
use futures::StreamExt;
use prost_types::Timestamp;
use tonic::Code;

use super::actions::{filing, header};
use super::app::{Clients, TestApp};
use super::pages::jpeg_page;
use super::tokens::Token;

/// In county 120101: the lent archive.
pub const LENT_ACCOUNT: &str = "1201000001";
/// A second archive of the same county, never lent.
pub const LENT_OTHER: &str = "1201000002";

/// An inspector of province 13: outside the lent archive's reach, and cleared only to
/// `internal` (the identity proof is confidential).
pub fn inspector(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("marketing", "inspector", Some("1301"))
    }
}

/// A county custodian of 1201, whose scope covers the lent archive.
pub fn county_custodian(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

pub struct LentArchive {
    /// A confidential identity proof of two pages whose title names a phone number.
    pub proof: String,
    /// A public notice of the same archive.
    pub notice: String,
}

pub async fn lent_archive(app: &mut TestApp) -> LentArchive {
    app.create_customer(LENT_ACCOUNT).await;
    app.create_customer(LENT_OTHER).await;
    let proof = app
        .file(filing(
            pb::FilingHeader {
                document_type: "identity-proof".into(),
                title: "客户13812345678身份证".into(),
                ..header(LENT_ACCOUNT, "proof")
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
                ..header(LENT_ACCOUNT, "notice")
            },
            &[jpeg_page(300, 3)],
            300,
        ))
        .await
        .unwrap();
    LentArchive {
        proof: proof.name,
        notice: notice.name,
    }
}

pub fn clock_time(app: &TestApp, from_now: TimeDelta) -> Timestamp {
    let time = custodian::domain::Clock::now(app.clock.as_ref()) + from_now;
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub fn loan_item(name: &str, pages: &[i32]) -> pb::LoanItem {
    pb::LoanItem {
        name: name.into(),
        pages: pages.to_vec(),
    }
}

/// A week's loan of `items` for a dispute.
pub fn week(app: &TestApp, items: Vec<pb::LoanItem>) -> pb::RequestLoanRequest {
    pb::RequestLoanRequest {
        items,
        purpose: pb::LoanPurpose::Dispute.into(),
        purpose_note: "过户纠纷，法务部调阅".into(),
        start_time: None,
        due_time: Some(clock_time(app, TimeDelta::days(7))),
    }
}

pub fn loan_approval(name: &str, personal_data: pb::LoanPersonalData) -> pb::ApproveLoanRequest {
    pb::ApproveLoanRequest {
        name: name.into(),
        personal_data: personal_data.into(),
        note: "同意".into(),
        ..Default::default()
    }
}

pub async fn request_loan(clients: &mut Clients, request: pb::RequestLoanRequest) -> pb::Loan {
    clients
        .lending
        .request_loan(request)
        .await
        .unwrap()
        .into_inner()
}

pub async fn approve_loan(
    clients: &mut Clients,
    request: pb::ApproveLoanRequest,
) -> Result<pb::Loan, tonic::Status> {
    clients
        .lending
        .approve_loan(request)
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_document(clients: &mut Clients, name: &str) -> Result<pb::Document, Code> {
    clients
        .documents
        .get_document(pb::GetDocumentRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| status.code())
}

/// Reads a page whole; its bytes' length, or the status code.
pub async fn read_whole_page(clients: &mut Clients, page: &str) -> Result<usize, Code> {
    let mut stream = clients
        .pages
        .read_page(pb::ReadPageRequest {
            name: page.into(),
            ..Default::default()
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
