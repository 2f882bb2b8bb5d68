//! Custodian: the electronic archive of an electric utility's customer records.
//!
//! A request travels through three layers, in one direction:
//!
//! - [`grpc`] — `middleware` gives every call its span, a place among the calls in flight,
//!   an actor from its bearer token, and (if unary) a time limit; then a module of `services`
//!   decodes it into domain types (rejecting bad input with a status that says what is wrong),
//!   calls the [`domain::Archive`] and encodes the reply. Errors become statuses in one place.
//! - [`domain`] — the archive's things and rules, one folder per area, and its use cases as
//!   methods of [`domain::Archive`] (policy check, work, one audit event):
//!   - `access`: the actor, the policy (roles, reach, clearance) and masking of personal data;
//!   - `audit`: the hash-chained event and how the trail is queried and verified;
//!   - `catalog`: document types with their retention and confidentiality;
//!   - `customers`: accounts and their history;
//!   - `documents`: documents, filing, page intake with its limits, versions, pages and their
//!     renditions (thumbnails, previews);
//!   - `completeness`: the rules per business process, their evaluation and the report;
//!   - `records`: retention, legal holds, appraisal and two-person disposal.
//!
//!   Date rules read an injected clock.
//! - [`storage`] — PostgreSQL for metadata (one query module per resource, one codec for every
//!   column mapping) and an object store (S3 or a local directory) for page bytes, by content
//!   address; the audit writer and the chain scan.
//!
//! Around them: [`settings`] (every setting and its default), [`startup`] (building and running
//! the server, its background jobs, the shutdown signal), [`health`] (the grpc.health.v1
//! status), [`links`] (the HTTP listener of page links), [`telemetry`] (logs and traces),
//! [`metrics`], [`proto`] (generated code) and [`cli`] (the `custodian` command, server and
//! client side).

pub mod cli;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod links;
pub mod metrics;
pub mod proto;
pub mod settings;
pub mod startup;
pub mod storage;
pub mod telemetry;
#[cfg(test)]
mod testing;
