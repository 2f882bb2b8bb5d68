//! The audit trail's rules: one hash-chained event per call, what of each event the trail keeps,
//! how refusals are coalesced, how the trail is queried and its chain verified, and the signed
//! checkpoints of its head that show a truncation. Writing events (batching, the chain's append)
//! is storage's.

pub(super) mod bounds;
pub(super) mod checkpoint;
pub(super) mod event;
pub(super) mod refusals;
pub(super) mod trail;

pub use bounds::{
    MAX_ACTION_BYTES, MAX_DETAILS_BYTES, MAX_OUTCOME_BYTES, MAX_PERSON_BYTES, MAX_REQUEST_ID_BYTES,
    MAX_RESOURCE_BYTES, MAX_ROLE_BYTES, MAX_SYSTEM_BYTES, check_recordable, is_recordable,
};
pub use checkpoint::{AuditCheckpointer, Checkpoint, SignedCheckpoint};
pub use event::{
    AuditEvent, ChainKey, ChainVerifier, ChainedEvent, GENESIS, Resource, Verification, outcome_of,
};
pub use refusals::{MAX_REFUSAL_KINDS, Refusal, RefusalWindow};
pub use trail::{AuditFilter, SeqCursor};
