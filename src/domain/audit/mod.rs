//! The audit trail's rules: one hash-chained event per call, and how the trail is queried and
//! its chain verified. Writing events (batching, the chain's append) is storage's.

pub(super) mod event;
pub(super) mod trail;

pub use event::{
    AuditEvent, ChainKey, ChainVerifier, ChainedEvent, GENESIS, Resource, Verification, outcome_of,
};
pub use trail::{AuditFilter, SeqCursor};
