//! Records management: retention periods (保管期限) and legal holds, appraisal (鉴定) of what
//! has expired, and two-person disposal (销毁).

pub(super) mod disposal;
pub(super) mod export;
pub(super) mod retention;

pub use disposal::{
    Decision, DestructionList, DisposalCandidate, ListState, MAX_LIST_DOCUMENTS, disposable_all,
};
pub use export::{Export, ExportItem, ExportPurpose, ExportSet, MAX_EXPORT_DOCUMENTS};
pub use retention::{
    ExpiredDocument, ExpiryCursor, HoldRelease, HoldTarget, LegalHold, Reason, Retention,
    RetentionFacts, RetentionRule,
};
