//! The one mapping between each column's stored form and its domain value; every query module
//! decodes and encodes its columns here.

use crate::domain::{
    BusinessProcess, Condition, Confidentiality, CustomerClass, CustomerStatus, ListState,
    LoanPurpose, LoanRecord, MediaType, PaperCondition, PersonalData, RenditionKind,
    RenditionState, RetentionClass, RetentionTrigger, RuleClass, ScanCheck, Sha256Digest,
    WorkOrderNumber,
};
use crate::storage::StorageError;

/// A domain enum stored as text. `to_db` is the one text of each value; decoding is its
/// inverse over `ALL`, so the two directions cannot disagree.
pub(super) trait ColumnText: Copy + 'static {
    /// Every value of the enum.
    const ALL: &'static [Self];

    fn to_db(self) -> &'static str;
}

/// The text a value is stored as.
pub(super) fn encode<T: ColumnText>(value: T) -> &'static str {
    value.to_db()
}

/// Converts a column's text into a domain value, or reports the corrupt row.
pub(super) fn decode<T: ColumnText>(column: &str, value: &str) -> Result<T, StorageError> {
    T::ALL
        .iter()
        .copied()
        .find(|candidate| candidate.to_db() == value)
        .ok_or_else(|| {
            StorageError::Unexpected(anyhow::anyhow!(
                "column {column} holds an unknown value {value:?}"
            ))
        })
}

/// Converts a column's text with a domain `parse` function, which explains its refusal.
pub(super) fn parse_column<T>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, StorageError> {
    parse(value).map_err(|reason| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds an invalid value: {reason}"
        ))
    })
}

/// Converts a stored confidentiality level.
pub(super) fn decode_confidentiality(level: i16) -> Result<Confidentiality, StorageError> {
    Confidentiality::from_level(level).ok_or_else(|| {
        StorageError::Unexpected(anyhow::anyhow!("unknown confidentiality level {level}"))
    })
}

/// A version or revision number, which the schema keeps positive.
pub(super) fn number(column: &str, value: i32) -> Result<u32, StorageError> {
    u32::try_from(value)
        .map_err(|_| StorageError::Unexpected(anyhow::anyhow!("column {column} holds {value}")))
}

/// A bound of a page span as the `int` page numbers compare with it: "every page" ends at the
/// largest.
pub(super) fn page_bound(number: u32) -> i32 {
    i32::try_from(number).unwrap_or(i32::MAX)
}

/// A content digest, stored as its 32 bytes.
pub(super) fn sha256(column: &str, bytes: Vec<u8>) -> Result<Sha256Digest, StorageError> {
    let length = bytes.len();
    bytes.try_into().map(Sha256Digest).map_err(|_| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds {length} bytes, not a SHA-256 digest"
        ))
    })
}

/// A version's work order: stored as '' when there is none.
pub(super) fn work_order(text: &str) -> Result<Option<WorkOrderNumber>, StorageError> {
    match text {
        "" => Ok(None),
        text => parse_column("work_order_number", text, WorkOrderNumber::parse).map(Some),
    }
}

/// The stored form of a version's work order: '' when there is none.
pub(super) fn work_order_text(work_order: Option<&WorkOrderNumber>) -> &str {
    work_order.map_or("", WorkOrderNumber::as_str)
}

// Where the domain already names a value's text (the codes of resource names, MIME types),
// the column holds that same text: the tests below pin it to the migrations' CHECKs, so a
// renamed code cannot silently stop decoding the rows already stored.

/// `document_versions.business_process` and `completeness_rules.business_process`, which allow
/// the same texts.
impl ColumnText for BusinessProcess {
    const ALL: &'static [Self] = &BusinessProcess::ALL;

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `completeness_rules.customer_class`: a customer class or `any`.
impl ColumnText for RuleClass {
    const ALL: &'static [Self] = &RuleClass::ALL;

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `completeness_rules.condition`.
impl ColumnText for Condition {
    const ALL: &'static [Self] = &Condition::ALL;

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `page_contents.media_type`: the MIME type.
impl ColumnText for MediaType {
    const ALL: &'static [Self] = &[Self::Jpeg, Self::Png, Self::Tiff, Self::Pdf];

    fn to_db(self) -> &'static str {
        self.as_mime()
    }
}

/// `page_renditions.kind`.
impl ColumnText for RenditionKind {
    const ALL: &'static [Self] = &Self::ALL;

    fn to_db(self) -> &'static str {
        self.as_str()
    }
}

/// `page_contents.rendition_state` with its `rendition_failure`.
pub(super) fn rendition_state(
    state: Option<&str>,
    failure: Option<String>,
) -> Result<RenditionState, StorageError> {
    Ok(match state {
        None => RenditionState::NotQueued,
        Some("pending") => RenditionState::Pending,
        Some("ready") => RenditionState::Ready,
        Some("failed") => RenditionState::Failed(failure.unwrap_or_default()),
        Some("skipped") => RenditionState::Skipped(failure.unwrap_or_default()),
        Some(other) => {
            return Err(StorageError::Unexpected(anyhow::anyhow!(
                "column rendition_state holds an unknown value {other:?}"
            )));
        }
    })
}

/// What separates a page's scan warnings when its `scan_warnings` array is read as one text
/// (`array_to_string(scan_warnings, E'\x1f')`, so that a document's pages aggregate into one
/// array): the ASCII unit separator, which no reason contains.
pub(super) const SCAN_WARNING_SEPARATOR: char = '\x1f';

/// A page's scan check from its joined warnings (`None`: filed before scan checks, `""`:
/// passed) and its content's blank flag.
pub(super) fn scan_check(warnings: Option<&str>, blank: Option<bool>) -> ScanCheck {
    ScanCheck {
        warnings: warnings.map(|text| {
            text.split(SCAN_WARNING_SEPARATOR)
                .filter(|reason| !reason.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        blank,
    }
}

/// `customers.customer_class` (and `customer_revisions`, which copies it).
impl ColumnText for CustomerClass {
    const ALL: &'static [Self] = &[Self::Residential, Self::NonResidential];

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `customers.status` (and `customer_revisions`, which copies it).
impl ColumnText for CustomerStatus {
    const ALL: &'static [Self] = &[Self::Active, Self::Closed];

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `destruction_lists.state`.
impl ColumnText for ListState {
    const ALL: &'static [Self] = &[Self::Proposed, Self::Destroyed, Self::Rejected];

    fn to_db(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Destroyed => "destroyed",
            Self::Rejected => "rejected",
        }
    }
}

/// `paper_sign_outs.condition`.
impl ColumnText for PaperCondition {
    const ALL: &'static [Self] = &[
        Self::Complete,
        Self::Damaged,
        Self::PagesMissing,
        Self::Lost,
    ];

    fn to_db(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Damaged => "damaged",
            Self::PagesMissing => "pages_missing",
            Self::Lost => "lost",
        }
    }
}

/// `loans.purpose`: the codes the audit trail records too.
impl ColumnText for LoanPurpose {
    const ALL: &'static [Self] = &LoanPurpose::ALL;

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `loans.state`: the decisions recorded; where a loan stands also depends on the clock.
impl ColumnText for LoanRecord {
    const ALL: &'static [Self] = &LoanRecord::ALL;

    fn to_db(self) -> &'static str {
        self.code()
    }
}

/// `loans.personal_data`.
impl ColumnText for PersonalData {
    const ALL: &'static [Self] = &[Self::Full, Self::Masked];

    fn to_db(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Masked => "masked",
        }
    }
}

/// `document_types.retention_class` (and `destruction_list_items`, which copies it).
impl ColumnText for RetentionClass {
    const ALL: &'static [Self] = &[Self::Permanent, Self::ThirtyYears, Self::TenYears];

    fn to_db(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::ThirtyYears => "30_years",
            Self::TenYears => "10_years",
        }
    }
}

/// `document_types.retention_trigger`.
impl ColumnText for RetentionTrigger {
    const ALL: &'static [Self] = &[Self::Filing, Self::AccountClosure];

    fn to_db(self) -> &'static str {
        match self {
            Self::Filing => "filing",
            Self::AccountClosure => "account_closure",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fmt::Debug;

    use super::*;

    const CUSTOMERS: &str = include_str!("../../../migrations/20261122100000_create_customers.sql");
    const DOCUMENT_TYPES: &str =
        include_str!("../../../migrations/20261122100100_create_document_types.sql");
    const CONFIDENTIALITY: &str = include_str!(
        "../../../migrations/20261122110000_add_confidentiality_to_document_types.sql"
    );
    const DOCUMENTS: &str = include_str!("../../../migrations/20261122100300_create_documents.sql");
    const RENDITIONS: &str =
        include_str!("../../../migrations/20261203500000_queue_page_renditions.sql");
    const RENDITION_STATES: &str =
        include_str!("../../../migrations/20261204300000_skip_oversized_renditions.sql");
    const RECORDS_RULES: &str =
        include_str!("../../../migrations/20261122120000_create_records_rules.sql");
    const COMPLETENESS_RULES: &str =
        include_str!("../../../migrations/20261122130000_create_completeness_rules.sql");

    /// Every value decodes from its own text, and no two values share one.
    fn round_trips<T: ColumnText + PartialEq + Debug>() {
        for value in T::ALL {
            let decoded: T = decode("column", encode(*value)).unwrap();
            assert_eq!(decoded, *value);
        }
        let texts: BTreeSet<&str> = T::ALL.iter().map(|value| encode(*value)).collect();
        assert_eq!(texts.len(), T::ALL.len(), "{texts:?}");
    }

    /// Texts of no value, including near misses of real ones, are refused naming the column.
    fn refuses<T: ColumnText + Debug>(unknown: &[&str]) {
        for text in unknown {
            let error = decode::<T>("the_column", text).unwrap_err();
            let message = format!("{:#}", anyhow::Error::from(error));
            assert!(
                message.contains("column the_column holds an unknown value"),
                "{message}"
            );
        }
    }

    /// The texts of `T` are exactly those the column's CHECK in `migration` allows.
    fn matches_check<T: ColumnText>(migration: &str, column: &str) {
        let opening = format!("CHECK ({column} IN (");
        let start = migration
            .find(&opening)
            .unwrap_or_else(|| panic!("no CHECK on {column} in the migration"))
            + opening.len();
        let end = start + migration[start..].find(')').unwrap();
        let allowed: BTreeSet<&str> = migration[start..end]
            .split(',')
            .map(|text| text.trim().trim_matches('\''))
            .collect();
        let texts: BTreeSet<&str> = T::ALL.iter().map(|value| encode(*value)).collect();
        assert_eq!(texts, allowed, "column {column}");
    }

    #[test]
    fn business_processes_are_stored_as_both_their_columns_allow() {
        round_trips::<BusinessProcess>();
        refuses::<BusinessProcess>(&["", "New_Connection", "new-connection", "newConnection"]);
        matches_check::<BusinessProcess>(DOCUMENTS, "business_process");
        matches_check::<BusinessProcess>(COMPLETENESS_RULES, "business_process");
    }

    #[test]
    fn customer_classes_are_stored_as_customers_allows() {
        round_trips::<CustomerClass>();
        refuses::<CustomerClass>(&["", "any", "Residential", "non-residential"]);
        matches_check::<CustomerClass>(CUSTOMERS, "customer_class");
    }

    #[test]
    fn rule_classes_are_stored_as_completeness_rules_allows() {
        round_trips::<RuleClass>();
        refuses::<RuleClass>(&["", "Any", "all", "non-residential"]);
        matches_check::<RuleClass>(COMPLETENESS_RULES, "customer_class");
    }

    #[test]
    fn rendition_kinds_are_stored_as_page_renditions_allows() {
        round_trips::<RenditionKind>();
        refuses::<RenditionKind>(&["", "Thumbnail", "original"]);
        matches_check::<RenditionKind>(RENDITIONS, "kind");
    }

    #[test]
    fn scan_warnings_read_back_as_written_and_a_page_before_the_checks_is_not_checked() {
        let joined = ["96 dpi", "a grey scan"].join(&SCAN_WARNING_SEPARATOR.to_string());
        let check = scan_check(Some(&joined), Some(false));
        assert_eq!(check.warnings.unwrap(), ["96 dpi", "a grey scan"]);
        assert_eq!(
            scan_check(Some(""), None).warnings.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(scan_check(None, None).warnings, None);
    }

    #[test]
    fn rendition_states_are_those_page_contents_allows() {
        for (text, state) in [
            ("pending", RenditionState::Pending),
            ("ready", RenditionState::Ready),
            ("failed", RenditionState::Failed("cut off".into())),
            ("skipped", RenditionState::Skipped("cut off".into())),
        ] {
            assert!(RENDITION_STATES.contains(&format!("'{text}'")), "{text}");
            assert_eq!(
                rendition_state(Some(text), Some("cut off".into())).unwrap(),
                state
            );
        }
        assert_eq!(
            rendition_state(None, None).unwrap(),
            RenditionState::NotQueued
        );
        assert!(rendition_state(Some("done"), None).is_err());
    }

    #[test]
    fn customer_statuses_are_stored_as_customers_allows() {
        round_trips::<CustomerStatus>();
        refuses::<CustomerStatus>(&["", "Active", "open", "closed "]);
        matches_check::<CustomerStatus>(CUSTOMERS, "status");
    }

    #[test]
    fn conditions_are_stored_as_completeness_rules_allows() {
        round_trips::<Condition>();
        refuses::<Condition>(&["", "Always", "on-file", "closed"]);
        matches_check::<Condition>(COMPLETENESS_RULES, "condition");
    }

    #[test]
    fn list_states_are_stored_as_destruction_lists_allows() {
        round_trips::<ListState>();
        refuses::<ListState>(&["", "Proposed", "approved", "destroyed\n"]);
        matches_check::<ListState>(RECORDS_RULES, "state");
    }

    #[test]
    fn retention_classes_are_stored_as_document_types_allows() {
        round_trips::<RetentionClass>();
        refuses::<RetentionClass>(&["", "Permanent", "30 years", "thirty_years"]);
        matches_check::<RetentionClass>(DOCUMENT_TYPES, "retention_class");
    }

    #[test]
    fn retention_triggers_are_stored_as_document_types_allows() {
        round_trips::<RetentionTrigger>();
        refuses::<RetentionTrigger>(&["", "Filing", "account-closure", "closure"]);
        matches_check::<RetentionTrigger>(RECORDS_RULES, "retention_trigger");
    }

    #[test]
    fn media_types_are_stored_as_page_contents_allows() {
        round_trips::<MediaType>();
        refuses::<MediaType>(&["", "IMAGE/PNG", "image/jpg", "image/gif"]);
        matches_check::<MediaType>(DOCUMENTS, "media_type");
    }

    #[test]
    fn confidentiality_levels_are_those_document_types_allows() {
        assert!(CONFIDENTIALITY.contains("CHECK (confidentiality BETWEEN 0 AND 2)"));
        for level in 0..=2 {
            assert_eq!(decode_confidentiality(level).unwrap().level(), level);
        }
        for level in [-1, 3, i16::MAX] {
            assert!(decode_confidentiality(level).is_err(), "{level}");
        }
    }

    #[test]
    fn a_missing_work_order_is_stored_as_the_empty_text() {
        assert_eq!(work_order_text(None), "");
        assert_eq!(work_order("").unwrap(), None);
        let order = WorkOrderNumber::parse("WO-2026/001").unwrap();
        assert_eq!(
            work_order(work_order_text(Some(&order))).unwrap(),
            Some(order)
        );
        assert!(work_order("not a work order").is_err());
    }

    #[test]
    fn a_content_digest_is_its_32_bytes() {
        let digest = Sha256Digest([7; 32]);
        assert_eq!(sha256("sha256", digest.0.to_vec()).unwrap(), digest);
        assert!(sha256("sha256", vec![7; 31]).is_err());
        assert!(sha256("sha256", Vec::new()).is_err());
    }

    #[test]
    fn version_numbers_are_never_negative() {
        assert_eq!(number("version", 1).unwrap(), 1);
        assert!(number("version", -1).is_err());
    }
}
