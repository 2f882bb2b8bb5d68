//! Lending (借阅): time-limited electronic loans of documents and archives, asked for by a
//! named borrower, approved by a custodian whose scope covers them, read under the loan's name,
//! ended by return, revocation or due time, and kept on the register permanently.

pub(super) mod approval;
pub(super) mod loan;
pub(super) mod reads;
pub(super) mod register;
pub(super) mod requests;

pub use approval::{Lending, LoanApproval};
pub use loan::{
    Borrower, Loan, LoanAct, LoanItem, LoanNote, LoanPurpose, LoanRecord, LoanRequest, LoanState,
    LoanTarget, MAX_LOAN_ITEMS, MAX_LOAN_PERIOD,
};
pub use reads::Lent;
pub use register::{LoanCursor, LoanFilter, LoanRead, LoanScope};
pub use requests::LoanEnding;
