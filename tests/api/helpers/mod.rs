//! The test harness, by concern:
//!
//! - `app`: the server of one test (its own database and object prefix) and clients for it;
//! - `tokens`: the callers' tokens and how they are sent;
//! - `pages`: page contents, their digests, and the repository's fixture files;
//! - `actions`: doing things through the API as a caller would (customers, filings, reads,
//!   corrections, completeness, retention);
//! - `lending`: an archive to lend, borrowers and custodians, loans and reads under them;
//! - `matrix`: the authorisation matrix: a caller per role, documents in and out of scope, cells;
//! - `wait`: waiting for an observable condition rather than for a guessed time.
//!
//! Tests import what they need from here, never from one another. The reliability tests
//! (`tests/reliability/`) include this module too, for its databases, tokens and pages.

mod actions;
mod app;
mod lending;
mod matrix;
mod pages;
mod tokens;
mod wait;

pub use actions::{
    completeness, correct, customer, file, file_typed, filing, header, message, open, open_filing,
    part, retention, retitle, update_customer,
};
pub use app::{AUDIT_CHAIN_KEY, Clients, TestApp, TestConfig, spawn_app, spawn_app_with};
pub use lending::{
    LENT_ACCOUNT, LENT_OTHER, approve_loan, clock_time, county_custodian, get_document, inspector,
    lent_archive, loan_approval, loan_item, read_whole_page, request_loan, week,
};
// What the reliability tests use besides, for servers they run as processes.
#[allow(unused_imports)]
pub use app::{archive_on, fresh_database, s3_settings};
pub use matrix::{Caller, Expect, Matrix, World, account, called, listed, outcome, type_of, world};
pub use pages::{
    fixture, ignoring_renditions, jpeg_page, page_ignoring_renditions, pdf_page, png_page,
    repository_file, sha256_hex,
};
#[allow(unused_imports)]
pub use tokens::Authorized;
pub use tokens::{AUDIENCE, ISSUER, Token};
pub use wait::eventually;

/// What a database owner bent on rewriting the audit trail does first: turns off the triggers
/// that keep it append-only. The tests of tamper detection start here; the signed checkpoints
/// must still catch what follows.
pub async fn lift_trail_guard(db: &mut sqlx::PgConnection) {
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER USER")
        .execute(db)
        .await
        .expect("the table's owner may disable its triggers");
}
