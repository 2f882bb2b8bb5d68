//! Completeness (the seeds' first problem): the rules saying which documents each business
//! process requires, their evaluation for one archive, and the report over an org unit.

pub(super) mod evaluation;
pub(super) mod report;
pub(super) mod rules;

pub use evaluation::{
    AccountCompleteness, Case, Filed, FiledDocument, Item, ItemStatus, Narrowing,
};
pub use report::{
    CompletenessReport, IncompleteArchive, ReportAccount, ReportCursor, ReportItem, ReportSummary,
};
pub use rules::{Condition, MAX_MIN_COUNT, Rule, RuleClass, RuleKey, RuleSet};
