//! Custodian: the electronic archive of an electric utility's customer records.
//!
//! A request travels through three layers:
//!
//! - [`grpc`] admits the call (limits, an RPC span), authenticates its bearer token into an
//!   actor, decodes it into domain types (rejecting bad input with a status that says what is
//!   wrong), calls the [`domain::Archive`] and encodes the reply;
//! - [`domain`] holds the archive's things (customers and their history, documents and their
//!   versions, pages, document types) and its rules (completeness, retention, legal holds,
//!   two-person disposal), the access policy and the audit trail, and runs each use case:
//!   policy check, work, audit event. Date rules read an injected clock;
//! - [`storage`] keeps metadata in PostgreSQL and page bytes in an object store (S3 or a local
//!   directory), by content address.
//!
//! Around them: [`settings`] (configuration), [`startup`] (building and running the server),
//! [`health`] (the grpc.health.v1 status), [`telemetry`] (logs and traces), [`metrics`],
//! [`proto`] (generated code) and [`cli`] (the `custodian` command, server and client side).

pub mod cli;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod metrics;
pub mod proto;
pub mod settings;
pub mod startup;
pub mod storage;
pub mod telemetry;
