//! Documents: filed papers of an archive, their metadata rules, and how they are found again.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::presentation::mask_document;

use crate::domain::Resource;
use crate::domain::customers::customer::customer_not_found;
use crate::domain::names::{DestructionListName, DocumentName};
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{AccountNumber, Archive, DocumentTypeCode, Error, PageInfo, PageSpan};
use crate::domain::{Actor, Confidentiality, Grant, Permission};
use crate::domain::{LegacyOrigin, LegacyReference, LegacySystem, PaperPlace};

/// The business process (业务类型) whose work order produced a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BusinessProcess {
    NewConnection,
    CapacityIncrease,
    CapacityReduction,
    Transfer,
    Rename,
    TariffClassChange,
    Suspension,
    Closure,
    Inspection,
}

impl BusinessProcess {
    /// Every process, in the order cases are reported (the account's opening first).
    pub const ALL: [BusinessProcess; 9] = [
        Self::NewConnection,
        Self::CapacityIncrease,
        Self::CapacityReduction,
        Self::Transfer,
        Self::Rename,
        Self::TariffClassChange,
        Self::Suspension,
        Self::Closure,
        Self::Inspection,
    ];

    /// The process's code in resource names and the database, e.g. `new_connection`.
    pub fn code(self) -> &'static str {
        match self {
            Self::NewConnection => "new_connection",
            Self::CapacityIncrease => "capacity_increase",
            Self::CapacityReduction => "capacity_reduction",
            Self::Transfer => "transfer",
            Self::Rename => "rename",
            Self::TariffClassChange => "tariff_class_change",
            Self::Suspension => "suspension",
            Self::Closure => "closure",
            Self::Inspection => "inspection",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|process| process.code() == code)
    }
}

/// Defines a text newtype whose `parse` trims nothing and checks length and characters.
macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, allowed = $allowed:expr, describe = $describe:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, String> {
                let length = text.chars().count();
                if length == 0 {
                    return Err("must not be empty".into());
                }
                if length > $max {
                    return Err(format!("must be at most {} characters, got {length}", $max));
                }
                let allowed: fn(char) -> bool = $allowed;
                if !text.chars().all(allowed) {
                    return Err(format!("{text:?} may contain only {}", $describe));
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Replaces the text by a masked form of it (see `free_text`), which may be
            /// longer than the field allows and is never parsed again.
            #[allow(dead_code)]
            pub(crate) fn map(self, f: impl FnOnce(&str) -> String) -> Self {
                Self(f(&self.0))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use text_field;

text_field!(
    /// The source system's work order (工单) number.
    WorkOrderNumber,
    max = 64,
    allowed = |c| c.is_ascii_alphanumeric() || "-_./".contains(c),
    describe = "ASCII letters, digits, `-`, `_`, `.` and `/`"
);

text_field!(
    /// A document's human-readable title.
    Title,
    max = 200,
    allowed = |c| !c.is_control(),
    describe = "printable characters"
);

text_field!(
    /// The short name of the system that filed a document, e.g. `marketing`.
    SourceSystem,
    max = 64,
    allowed = |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    describe = "lowercase ASCII letters, digits and `-`"
);

text_field!(
    /// The caller's id for one filing: a retry reuses it.
    ClientRequestId,
    max = 128,
    allowed = |c| c.is_ascii_graphic(),
    describe = "printable ASCII without spaces"
);

/// What a filing says about the document before its pages arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingHeader {
    pub account: AccountNumber,
    pub document_type: DocumentTypeCode,
    pub business_process: BusinessProcess,
    pub work_order_number: Option<WorkOrderNumber>,
    pub title: Title,
    pub source_system: SourceSystem,
    pub client_request_id: ClientRequestId,
    /// Set by an import (permission `import-records`): the record's original date and origin.
    pub legacy: Option<LegacyOrigin>,
    /// Where the paper original is kept (permission `manage-paper-custody`), recorded with the
    /// filing as its first location.
    pub paper: Option<PaperPlace>,
}

/// One version of a filed document with its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: Uuid,
    pub account: AccountNumber,
    pub document_type: DocumentTypeCode,
    pub business_process: BusinessProcess,
    pub work_order_number: Option<WorkOrderNumber>,
    pub title: Title,
    pub source_system: SourceSystem,
    pub client_request_id: ClientRequestId,
    pub version: u32,
    /// The pages in order; empty in the basic view, where `page_count` and `size_bytes` stand.
    pub pages: Vec<PageInfo>,
    pub page_count: u32,
    /// The pages' bytes together.
    pub size_bytes: u64,
    /// When the document entered Custodian.
    pub filed_at: DateTime<Utc>,
    /// When it was formed or first filed in its source (`filed_at` unless imported):
    /// retention, appraisal and completeness count from it.
    pub original_at: DateTime<Utc>,
    /// The legacy reference number (档号) and source of an imported document.
    pub legacy_reference: Option<LegacyReference>,
    pub legacy_system: Option<LegacySystem>,
    /// The latest version; `version` is older when an earlier one was asked for.
    pub current_version: u32,
    /// The account's revision when the document was filed.
    pub customer_revision: u32,
    /// When this version was made (filed or corrected).
    pub version_created_at: DateTime<Utc>,
    /// The confidentiality of the document's type, which decides who sees it.
    pub confidentiality: Confidentiality,
    /// Set once disposal destroyed the document: what is left is this tombstone.
    pub destruction: Option<Destruction>,
}

/// When and by which destruction list a document was destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destruction {
    pub list: DestructionListName,
    pub destroyed_at: DateTime<Utc>,
}

impl Document {
    pub fn name(&self) -> DocumentName {
        DocumentName {
            account: self.account.clone(),
            document_id: self.id,
        }
    }

    /// Whether a filing with `header` asks for this very document: a retry must not quietly
    /// return a different one.
    pub(crate) fn was_filed_by(&self, header: &FilingHeader) -> bool {
        self.account == header.account
            && self.document_type == header.document_type
            && self.business_process == header.business_process
            && self.work_order_number == header.work_order_number
            && self.title == header.title
            && header.legacy.as_ref().is_none_or(|legacy| {
                self.original_at == legacy.original_at
                    && self.legacy_reference == legacy.reference
                    && self.legacy_system.as_ref() == Some(&legacy.system)
            })
    }
}

/// The most documents one BatchGetDocuments names (AIP-231's usual bound).
pub const MAX_BATCH_DOCUMENTS: usize = 100;

/// How much of a document a read returns: `Basic` leaves the page list out (its count and
/// size stay), which a listing then need not gather.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DocumentView {
    Basic,
    #[default]
    Full,
}

/// Narrows a listing of an archive; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub document_type: Option<DocumentTypeCode>,
    pub business_process: Option<BusinessProcess>,
    pub work_order_number: Option<WorkOrderNumber>,
    pub filed_after: Option<DateTime<Utc>>,
    pub filed_before: Option<DateTime<Utc>>,
}

impl DocumentFilter {
    /// Checks the fields against each other.
    pub fn validate(self) -> Result<Self, Error> {
        if let (Some(after), Some(before)) = (self.filed_after, self.filed_before)
            && after >= before
        {
            return Err(Error::invalid(
                "filed_before",
                format!("must be later than filed_after ({after})"),
            ));
        }
        Ok(self)
    }

    /// A canonical description of the query, which binds page tokens to it.
    pub fn describe(&self, account: &AccountNumber) -> String {
        format!("documents of {account} where {self:?}")
    }
}

/// Where the next page of an archive listing starts: newest first, ties by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCursor {
    pub filed_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor for DocumentCursor {
    fn encode(&self) -> String {
        format!("{}/{}", self.filed_at.timestamp_micros(), self.id)
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('/')?;
        Some(Self {
            filed_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

impl Archive {
    /// Returns the current version of a document, or `NotFound` also when the caller may not
    /// see it. A document the caller may not see by the normal rules is returned as lent when
    /// a loan in force lends it to them (see `lending::reads`), and the read names the loan.
    pub async fn document(&self, actor: &Actor, name: &DocumentName) -> Result<Document, Error> {
        let resource = document_resource(name);
        self.audited_read(actor, "GetDocument", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            let (document, lent) = self.readable_document(&grant, name, None).await?;
            let document = self
                .present_readable(&grant, document, lent.as_ref())
                .await?;
            Ok((document, lent.map(|lent| lent.details())))
        })
        .await
    }

    /// The current versions of up to [`MAX_BATCH_DOCUMENTS`] documents in the order named, each
    /// read (and recorded) as `document` reads it; all or nothing.
    pub async fn documents(
        &self,
        actor: &Actor,
        names: &[DocumentName],
    ) -> Result<Vec<Document>, Error> {
        if names.is_empty() || names.len() > MAX_BATCH_DOCUMENTS {
            return Err(Error::invalid(
                "names",
                format!(
                    "name 1 to {MAX_BATCH_DOCUMENTS} documents, got {}",
                    names.len()
                ),
            ));
        }
        // Concurrent, so the single-document reads coalesce into a few statements.
        futures::future::try_join_all(names.iter().map(|name| self.document(actor, name))).await
    }

    /// Lists an archive's documents the caller may see, newest first.
    pub async fn list_documents(
        &self,
        actor: &Actor,
        account: &AccountNumber,
        filter: &DocumentFilter,
        view: DocumentView,
        page: PageRequest<DocumentCursor>,
    ) -> Result<Page<Document, DocumentCursor>, Error> {
        let resource = Resource::named(format!("customers/{account}/documents")).account(account);
        self.audited(actor, "ListDocuments", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            let mut page = self
                .visible_documents(&grant, account, filter, view, page)
                .await?;
            let mask = self.free_text_mask(&grant, account).await?;
            page.items = page
                .items
                .into_iter()
                .map(|document| mask_document(mask.as_ref(), document))
                .collect();
            Ok(page)
        })
        .await
    }

    /// One page of an archive's documents the grant sees; `NotFound` when the account is out
    /// of reach. Listings and exports share it, so both apply the same rules.
    pub(crate) async fn visible_documents(
        &self,
        grant: &Grant<'_>,
        account: &AccountNumber,
        filter: &DocumentFilter,
        view: DocumentView,
        page: PageRequest<DocumentCursor>,
    ) -> Result<Page<Document, DocumentCursor>, Error> {
        let visibility = Visibility {
            clearance: grant.clearance(),
            types: grant.visible_types(),
        };
        // The listing comes first and brings the account's org unit along, so the reach
        // check needs its own query only when nothing matched; the rows of an account out
        // of reach are dropped unseen.
        let (documents, org_unit) = self
            .db
            .list_documents(
                account,
                filter,
                &visibility,
                view,
                page.after.as_ref(),
                page.size + 1,
            )
            .await?;
        match org_unit {
            Some(unit) if grant.reaches_account(account, &unit) => {}
            Some(_) => return Err(customer_not_found(account)),
            None => {
                self.reachable_customer(grant, account).await?;
            }
        }
        Ok(Page::from_overfetch(documents, page.size, |d| {
            DocumentCursor {
                filed_at: d.filed_at,
                id: d.id,
            }
        }))
    }

    /// The document if its account is within reach and its type visible; else `NotFound`.
    pub(crate) async fn visible_document(
        &self,
        grant: &Grant<'_>,
        name: &DocumentName,
    ) -> Result<Document, Error> {
        self.visible_document_pages(grant, name, PageSpan::ALL)
            .await
    }

    /// The same, listing only the pages of `pages`.
    pub(crate) async fn visible_document_pages(
        &self,
        grant: &Grant<'_>,
        name: &DocumentName,
        pages: PageSpan,
    ) -> Result<Document, Error> {
        // One statement brings the document with its owner's org unit: the reach check is
        // decided here and costs no round trip of its own.
        match self.db.document_pages(name, pages).await? {
            Some((document, org_unit))
                if grant.reaches_account(&name.account, &org_unit)
                    && grant.sees(&document.document_type, document.confidentiality) =>
            {
                Ok(document)
            }
            _ => Err(document_not_found(name)),
        }
    }
}

/// Which documents a listing may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    pub clearance: Confidentiality,
    /// When set, the only document types to return.
    pub types: Option<Vec<String>>,
}

pub(crate) fn document_resource(name: &DocumentName) -> Resource {
    Resource::named(name.to_string())
        .account(&name.account)
        .document(name.document_id)
}

pub(crate) fn document_not_found(name: &DocumentName) -> Error {
    Error::NotFound(format!("document {name} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_order_number_with_slashes_and_dots_is_accepted() {
        assert!(WorkOrderNumber::parse("WO-2026/11.0042_a").is_ok());
    }

    #[test]
    fn a_work_order_number_with_spaces_or_too_long_is_rejected() {
        assert!(WorkOrderNumber::parse("WO 1").is_err());
        assert!(WorkOrderNumber::parse(&"1".repeat(65)).is_err());
        assert!(WorkOrderNumber::parse("").is_err());
    }

    #[test]
    fn a_title_may_be_chinese_but_not_contain_control_characters() {
        assert!(Title::parse("居民新装用电申请书").is_ok());
        assert!(Title::parse("line\nbreak").is_err());
        assert!(Title::parse("").is_err());
        assert!(Title::parse(&"页".repeat(201)).is_err());
    }

    #[test]
    fn a_source_system_is_a_lowercase_slug() {
        assert!(SourceSystem::parse("marketing").is_ok());
        assert!(SourceSystem::parse("metering-2").is_ok());
        assert!(SourceSystem::parse("Marketing").is_err());
        assert!(SourceSystem::parse("mark eting").is_err());
    }

    #[test]
    fn a_client_request_id_is_printable_ascii_without_spaces() {
        assert!(ClientRequestId::parse("0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e").is_ok());
        assert!(ClientRequestId::parse("a b").is_err());
        assert!(ClientRequestId::parse("请求").is_err());
        assert!(ClientRequestId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_filter_whose_range_is_empty_is_rejected() {
        let now = Utc::now();
        let filter = DocumentFilter {
            filed_after: Some(now),
            filed_before: Some(now),
            ..Default::default()
        };
        assert!(filter.validate().is_err());
    }

    #[test]
    fn a_document_cursor_round_trips() {
        let cursor = DocumentCursor {
            filed_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(DocumentCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(DocumentCursor::decode("12/not-a-uuid"), None);
    }

    #[test]
    fn different_filters_describe_different_queries() {
        let account = AccountNumber::parse("1234567890").unwrap();
        let typed = DocumentFilter {
            document_type: Some(DocumentTypeCode::parse("notice").unwrap()),
            ..Default::default()
        };
        assert_ne!(
            typed.describe(&account),
            DocumentFilter::default().describe(&account)
        );
    }
}
