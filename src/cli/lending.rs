//! The custodian's daily lending work from the command line: the loan requests waiting for a
//! decision, approving or rejecting one, and signing paper originals out and back in.

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use prost_types::Timestamp;

use super::client::Connection;
use crate::proto::v1 as pb;
use crate::proto::v1::lending_service_client::LendingServiceClient;
use crate::proto::v1::paper_service_client::PaperServiceClient;

#[derive(Debug, Subcommand)]
pub enum LoansCommand {
    /// Lists the loan requests in your scope waiting for a decision (or loans in another state).
    Requests {
        #[command(flatten)]
        connection: Connection,
        #[arg(long, value_enum, default_value_t = State::Requested)]
        state: State,
    },
    /// Approves a loan request as asked, choosing how the borrower sees personal data.
    Approve {
        #[command(flatten)]
        connection: Connection,
        /// `loans/{loan_id}`.
        loan: String,
        #[arg(long, value_enum)]
        personal_data: PersonalData,
        /// Lend only these items (`customers/…` or `customers/…/documents/…`); all if none.
        #[arg(long = "only")]
        only: Vec<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Rejects a loan request with a reason.
    Reject {
        #[command(flatten)]
        connection: Connection,
        loan: String,
        #[arg(long)]
        note: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaperCommand {
    /// Signs a document's paper original out to a named person.
    SignOut {
        #[command(flatten)]
        connection: Connection,
        /// `customers/{account}/documents/{id}`.
        document: String,
        /// Who takes it.
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        org_unit: String,
        #[arg(long, default_value = "")]
        contact: String,
        /// Days until it is due back.
        #[arg(long)]
        days: u32,
        /// The approved loan it goes out against (`loans/{loan_id}`).
        #[arg(long, default_value = "")]
        loan: String,
    },
    /// Signs a paper back in with its condition.
    SignIn {
        #[command(flatten)]
        connection: Connection,
        document: String,
        #[arg(long, value_enum)]
        condition: Condition,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Lists the papers out now in your scope, or only the overdue ones.
    Out {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        overdue: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum State {
    Requested,
    Active,
    Expired,
    Returned,
    Revoked,
    Rejected,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PersonalData {
    Full,
    Masked,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Condition {
    Complete,
    Damaged,
    PagesMissing,
}

impl LoansCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Requests { connection, state } => {
                let mut client = LendingServiceClient::new(connection.channel().await?);
                let state = match state {
                    State::Requested => pb::LoanState::Requested,
                    State::Active => pb::LoanState::Active,
                    State::Expired => pb::LoanState::Expired,
                    State::Returned => pb::LoanState::Returned,
                    State::Revoked => pb::LoanState::Revoked,
                    State::Rejected => pb::LoanState::Rejected,
                };
                let loans = client
                    .list_loans(pb::ListLoansRequest {
                        state: state.into(),
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .loans;
                for loan in &loans {
                    print_loan(loan);
                }
                println!("{} loans", loans.len());
            }
            Self::Approve {
                connection,
                loan,
                personal_data,
                only,
                note,
            } => {
                let mut client = LendingServiceClient::new(connection.channel().await?);
                let loan = client
                    .approve_loan(pb::ApproveLoanRequest {
                        name: loan,
                        items: only
                            .into_iter()
                            .map(|name| pb::LoanItem {
                                name,
                                pages: vec![],
                            })
                            .collect(),
                        personal_data: match personal_data {
                            PersonalData::Full => pb::LoanPersonalData::Full,
                            PersonalData::Masked => pb::LoanPersonalData::Masked,
                        }
                        .into(),
                        note,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                print_loan(&loan);
            }
            Self::Reject {
                connection,
                loan,
                note,
            } => {
                let mut client = LendingServiceClient::new(connection.channel().await?);
                let loan = client
                    .reject_loan(pb::RejectLoanRequest { name: loan, note })
                    .await?
                    .into_inner();
                print_loan(&loan);
            }
        }
        Ok(())
    }
}

impl PaperCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::SignOut {
                connection,
                document,
                to,
                org_unit,
                contact,
                days,
                loan,
            } => {
                let mut client = PaperServiceClient::new(connection.channel().await?);
                let due = chrono::Utc::now() + chrono::TimeDelta::days(i64::from(days));
                let paper = client
                    .sign_out_paper(pb::SignOutPaperRequest {
                        document,
                        holder: Some(pb::PaperHolder {
                            name: to,
                            org_unit_code: org_unit,
                            contact,
                        }),
                        due_time: Some(Timestamp {
                            seconds: due.timestamp(),
                            nanos: 0,
                        }),
                        loan,
                    })
                    .await?
                    .into_inner();
                let sign_out = paper.sign_out.context("the reply carries no sign-out")?;
                println!("signed out {}", sign_out.name);
                print_sign_out(&sign_out);
            }
            Self::SignIn {
                connection,
                document,
                condition,
                note,
            } => {
                let mut client = PaperServiceClient::new(connection.channel().await?);
                let paper = client
                    .sign_in_paper(pb::SignInPaperRequest {
                        document,
                        condition: match condition {
                            Condition::Complete => pb::PaperCondition::Complete,
                            Condition::Damaged => pb::PaperCondition::Damaged,
                            Condition::PagesMissing => pb::PaperCondition::PagesMissing,
                        }
                        .into(),
                        note,
                    })
                    .await?
                    .into_inner();
                println!(
                    "signed in {} ({})",
                    paper.document,
                    paper.state().as_str_name()
                );
            }
            Self::Out {
                connection,
                overdue,
            } => {
                let mut client = PaperServiceClient::new(connection.channel().await?);
                let sign_outs = client
                    .list_sign_outs(pb::ListSignOutsRequest {
                        overdue_only: overdue,
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .sign_outs;
                for sign_out in &sign_outs {
                    print_sign_out(sign_out);
                }
                println!("{} papers out", sign_outs.len());
            }
        }
        Ok(())
    }
}

fn time(timestamp: Option<&Timestamp>) -> String {
    timestamp
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

fn print_loan(loan: &pb::Loan) {
    let items: Vec<&str> = loan
        .requested_items
        .iter()
        .map(|item| item.name.as_str())
        .collect();
    println!(
        "{}\t{}\t{}\t{} until {}\t{}\t{}",
        loan.name,
        loan.state().as_str_name(),
        loan.borrower,
        time(loan.start_time.as_ref()),
        time(loan.due_time.as_ref()),
        loan.purpose_note,
        items.join(" ")
    );
}

fn print_sign_out(sign_out: &pb::SignOut) {
    let holder = sign_out.holder.clone().unwrap_or_default();
    println!(
        "{}\t{}\tdue {}{}\t{}",
        sign_out.document,
        holder.name,
        time(sign_out.due_time.as_ref()),
        if sign_out.overdue { " OVERDUE" } else { "" },
        sign_out.loan
    );
}
