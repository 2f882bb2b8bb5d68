//! The gRPC transport: the middleware every call passes through (`middleware`: span, admission,
//! authentication, timeout), the services (`services`: decode the request into domain types,
//! call the [`Archive`](crate::domain::Archive), encode the reply), the conversions several
//! services share (`convert`), the framing of streamed uploads (`upload`) and the one mapping of
//! errors to statuses (`error`).

pub(crate) mod convert;
mod error;
pub mod middleware;
mod services;
mod upload;

#[cfg(test)]
mod proptests;

pub use services::{SERVICE_NAMES, routes};
