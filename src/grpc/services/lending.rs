//! LendingService: electronic loans, their decisions and ends, the register, and the reads
//! under a loan.

use tonic::{Request, Response, Status};

use crate::domain::{
    Archive, Error, Loan, LoanApproval, LoanEnding, LoanFilter, LoanItem, LoanName, LoanNote,
    LoanPurpose, LoanRequest, LoanState, LoanTarget, OrgUnitCode, PageRequest, PersonalData,
    SeqCursor, parse_customer_name,
};
use crate::grpc::convert::{document_to_proto, optional, parse_timestamp, required, timestamp};
use crate::grpc::middleware::actor;
use crate::proto::v1 as pb;

pub struct LendingService {
    archive: Archive,
}

impl LendingService {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }

    fn reply(&self, loan: &Loan) -> Response<pb::Loan> {
        Response::new(loan_to_proto(loan, loan.state(self.archive.now())))
    }
}

#[tonic::async_trait]
impl pb::lending_service_server::LendingService for LendingService {
    async fn request_loan(
        &self,
        request: Request<pb::RequestLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let request = LoanRequest::new(
            parse_items(request.items)?,
            parse_purpose(request.purpose)?,
            required("purpose_note", &request.purpose_note, LoanNote::parse)?,
            parse_timestamp("start_time", request.start_time)?,
            parse_timestamp("due_time", request.due_time)?
                .ok_or_else(|| Error::invalid("due_time", "is required"))?,
        )?;
        let loan = self.archive.request_loan(&actor, request).await?;
        tracing::info!(loan = %loan.name(), items = loan.requested.len(), "loan requested");
        Ok(self.reply(&loan))
    }

    async fn approve_loan(
        &self,
        request: Request<pb::ApproveLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("name", &request.name)?;
        let personal_data = match pb::LoanPersonalData::try_from(request.personal_data) {
            Ok(pb::LoanPersonalData::Full) => PersonalData::Full,
            Ok(pb::LoanPersonalData::Masked) => PersonalData::Masked,
            _ => {
                return Err(Error::invalid(
                    "personal_data",
                    "is required: choose whether the borrower sees personal data in full or masked",
                )
                .into());
            }
        };
        let approval = LoanApproval {
            items: if request.items.is_empty() {
                Vec::new()
            } else {
                parse_items(request.items)?
            },
            start: parse_timestamp("start_time", request.start_time)?,
            due: parse_timestamp("due_time", request.due_time)?,
            personal_data,
            note: optional("note", &request.note, LoanNote::parse)?,
        };
        let loan = self.archive.approve_loan(&actor, name, approval).await?;
        tracing::info!(loan = %name, lent = loan.lent.len(), "loan approved");
        Ok(self.reply(&loan))
    }

    async fn reject_loan(
        &self,
        request: Request<pb::RejectLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("name", &request.name)?;
        let note = required("note", &request.note, LoanNote::parse)?;
        let loan = self.archive.reject_loan(&actor, name, note).await?;
        Ok(self.reply(&loan))
    }

    async fn return_loan(
        &self,
        request: Request<pb::ReturnLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("name", &request.name)?;
        let note = optional("note", &request.note, LoanNote::parse)?;
        let loan = self
            .archive
            .end_loan(&actor, name, LoanEnding::Return, note)
            .await?;
        Ok(self.reply(&loan))
    }

    async fn revoke_loan(
        &self,
        request: Request<pb::RevokeLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("name", &request.name)?;
        let note = required("note", &request.note, LoanNote::parse)?;
        let loan = self
            .archive
            .end_loan(&actor, name, LoanEnding::Revoke, Some(note))
            .await?;
        tracing::info!(loan = %name, "loan revoked");
        Ok(self.reply(&loan))
    }

    async fn get_loan(
        &self,
        request: Request<pb::GetLoanRequest>,
    ) -> Result<Response<pb::Loan>, Status> {
        let actor = actor(&request)?;
        let name = LoanName::parse("name", &request.into_inner().name)?;
        let loan = self.archive.get_loan(&actor, name).await?;
        Ok(self.reply(&loan))
    }

    async fn list_loans(
        &self,
        request: Request<pb::ListLoansRequest>,
    ) -> Result<Response<pb::ListLoansResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let filter = LoanFilter {
            borrower: (!request.borrower.is_empty()).then(|| request.borrower.clone()),
            account: if request.account.is_empty() {
                None
            } else {
                Some(parse_customer_name("account", &request.account)?)
            },
            org_unit: optional("org_unit_code", &request.org_unit_code, OrgUnitCode::parse)?,
            state: parse_state(request.state)?,
            period_start: parse_timestamp("period_start", request.period_start)?,
            period_end: parse_timestamp("period_end", request.period_end)?,
        }
        .validate()?;
        let query = filter.describe();
        let page = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self.archive.list_loans(&actor, &filter, page).await?;
        let now = self.archive.now();
        Ok(Response::new(pb::ListLoansResponse {
            next_page_token: page.next_page_token(&query),
            loans: page
                .items
                .iter()
                .map(|loan| loan_to_proto(loan, loan.state(now)))
                .collect(),
        }))
    }

    async fn list_loan_documents(
        &self,
        request: Request<pb::ListLoanDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("parent", &request.parent)?;
        let query = format!("{name}/documents");
        let page = PageRequest::parse(request.page_size, &request.page_token, &query)?;
        let page = self.archive.list_loan_documents(&actor, name, page).await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            next_page_token: page.next_page_token(&query),
            documents: page.items.iter().map(document_to_proto).collect(),
        }))
    }

    async fn list_loan_reads(
        &self,
        request: Request<pb::ListLoanReadsRequest>,
    ) -> Result<Response<pb::ListLoanReadsResponse>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = LoanName::parse("parent", &request.parent)?;
        let query = format!("{name}/reads");
        let page = PageRequest::<SeqCursor>::parse(request.page_size, &request.page_token, &query)?;
        let page = self.archive.loan_reads(&actor, name, page).await?;
        Ok(Response::new(pb::ListLoanReadsResponse {
            next_page_token: page.next_page_token(&query),
            reads: page
                .items
                .into_iter()
                .map(|read| pb::LoanRead {
                    time: Some(timestamp(read.time)),
                    action: read.action,
                    resource: read.resource,
                    outcome: read.outcome,
                    seq: read.seq,
                })
                .collect(),
        }))
    }
}

fn parse_items(items: Vec<pb::LoanItem>) -> Result<Vec<LoanItem>, Error> {
    items
        .into_iter()
        .map(|item| {
            let target = if item.name.is_empty() {
                return Err(Error::invalid("items.name", "is required"));
            } else {
                LoanTarget::parse("items.name", &item.name)?
            };
            LoanItem::new(target, item.pages.into_iter().map(i64::from).collect())
        })
        .collect()
}

fn parse_purpose(value: i32) -> Result<LoanPurpose, Error> {
    use pb::LoanPurpose as P;
    match P::try_from(value) {
        Ok(P::BusinessHandling) => Ok(LoanPurpose::BusinessHandling),
        Ok(P::Audit) => Ok(LoanPurpose::Audit),
        Ok(P::Dispute) => Ok(LoanPurpose::Dispute),
        Ok(P::CustomerService) => Ok(LoanPurpose::CustomerService),
        Ok(P::Unspecified) => Err(Error::invalid("purpose", "is required")),
        Err(_) => Err(Error::invalid(
            "purpose",
            format!("{value} is not a loan purpose"),
        )),
    }
}

fn parse_state(value: i32) -> Result<Option<LoanState>, Error> {
    use pb::LoanState as S;
    let state = S::try_from(value)
        .map_err(|_| Error::invalid("state", format!("{value} is not a loan state")))?;
    Ok(Some(match state {
        S::Unspecified => return Ok(None),
        S::Requested => LoanState::Requested,
        S::Approved => LoanState::Approved,
        S::Active => LoanState::Active,
        S::Rejected => LoanState::Rejected,
        S::Returned => LoanState::Returned,
        S::Revoked => LoanState::Revoked,
        S::Expired => LoanState::Expired,
    }))
}

fn state_to_proto(state: LoanState) -> pb::LoanState {
    use pb::LoanState as S;
    match state {
        LoanState::Requested => S::Requested,
        LoanState::Approved => S::Approved,
        LoanState::Active => S::Active,
        LoanState::Rejected => S::Rejected,
        LoanState::Returned => S::Returned,
        LoanState::Revoked => S::Revoked,
        LoanState::Expired => S::Expired,
    }
}

fn purpose_to_proto(purpose: LoanPurpose) -> pb::LoanPurpose {
    match purpose {
        LoanPurpose::BusinessHandling => pb::LoanPurpose::BusinessHandling,
        LoanPurpose::Audit => pb::LoanPurpose::Audit,
        LoanPurpose::Dispute => pb::LoanPurpose::Dispute,
        LoanPurpose::CustomerService => pb::LoanPurpose::CustomerService,
    }
}

fn item_to_proto(item: &LoanItem) -> pb::LoanItem {
    pb::LoanItem {
        name: item.target.to_string(),
        pages: item
            .pages
            .iter()
            .flatten()
            .map(|page| *page as i32)
            .collect(),
    }
}

fn loan_to_proto(loan: &Loan, state: LoanState) -> pb::Loan {
    let decision = loan.decision.as_ref();
    let end = loan.end.as_ref();
    let note = |act: Option<&crate::domain::LoanAct>| {
        act.and_then(|act| act.note.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    pb::Loan {
        name: loan.name().to_string(),
        borrower: loan.borrower.acted_by.clone(),
        borrower_role: loan.borrower.role.clone(),
        borrower_org_unit: loan
            .borrower
            .org_unit
            .as_ref()
            .map(|unit| unit.as_str().to_owned())
            .unwrap_or_default(),
        purpose: purpose_to_proto(loan.purpose).into(),
        purpose_note: loan.purpose_note.to_string(),
        requested_items: loan.requested.iter().map(item_to_proto).collect(),
        lent_items: loan.lent.iter().map(item_to_proto).collect(),
        start_time: Some(timestamp(loan.start)),
        due_time: Some(timestamp(loan.due)),
        state: state_to_proto(state).into(),
        request_time: Some(timestamp(loan.request_time)),
        personal_data: match loan.personal_data {
            None => pb::LoanPersonalData::Unspecified,
            Some(PersonalData::Full) => pb::LoanPersonalData::Full,
            Some(PersonalData::Masked) => pb::LoanPersonalData::Masked,
        }
        .into(),
        decided_by: decision.map(|act| act.by.clone()).unwrap_or_default(),
        decide_time: decision.map(|act| timestamp(act.time)),
        decision_note: note(decision),
        ended_by: end.map(|act| act.by.clone()).unwrap_or_default(),
        end_time: end.map(|act| timestamp(act.time)),
        end_note: note(end),
    }
}
