//! Searching documents across archives: the filters, the two orders and their cursors, and the
//! use case, which sees exactly what ListDocuments sees (reach, clearance, visible types).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::customers::customer::narrow_to_reach;
use crate::domain::paging::{Cursor, Page, PageRequest};
use crate::domain::{
    AccountNumber, Actor, Archive, BusinessProcess, CustomerClass, CustomerStatus, Document,
    DocumentTypeCode, DocumentView, Error, LegacyReference, OrgUnitCode, Permission, Resource,
    SourceSystem, Visibility, WorkOrderNumber,
};

/// The most document types one search may name.
pub const MAX_SEARCH_TYPES: usize = 20;

/// How a search orders its results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DocumentOrder {
    /// Filing time, newest first; ties by id.
    #[default]
    FileTime,
    /// As the archive is shelved: account number, then filing time oldest first, then id.
    Reference,
}

impl DocumentOrder {
    fn code(self) -> &'static str {
        match self {
            Self::FileTime => "file_time",
            Self::Reference => "reference",
        }
    }
}

/// What a document search asks for; every field set must match, a list matches any of its
/// values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentSearch {
    pub org_unit: Option<OrgUnitCode>,
    pub document_types: Vec<DocumentTypeCode>,
    pub business_processes: Vec<BusinessProcess>,
    pub work_order_number: Option<WorkOrderNumber>,
    pub filed_after: Option<DateTime<Utc>>,
    pub filed_before: Option<DateTime<Utc>>,
    pub original_after: Option<DateTime<Utc>>,
    pub original_before: Option<DateTime<Utc>>,
    pub customer_class: Option<CustomerClass>,
    pub customer_status: Option<CustomerStatus>,
    pub source_system: Option<SourceSystem>,
    pub legacy_reference: Option<LegacyReference>,
    pub order: DocumentOrder,
}

impl DocumentSearch {
    /// Checks the fields against each other and puts the lists in one canonical order, so
    /// the same question always describes (and pages) the same way.
    pub fn validate(mut self) -> Result<Self, Error> {
        for (after, before, field) in [
            (self.filed_after, self.filed_before, "filed_before"),
            (self.original_after, self.original_before, "original_before"),
        ] {
            if let (Some(after), Some(before)) = (after, before)
                && after >= before
            {
                return Err(Error::invalid(
                    field,
                    format!("must be later than the range's start ({after})"),
                ));
            }
        }
        if self.document_types.len() > MAX_SEARCH_TYPES {
            return Err(Error::invalid(
                "document_types",
                format!(
                    "at most {MAX_SEARCH_TYPES} types, got {}",
                    self.document_types.len()
                ),
            ));
        }
        self.document_types
            .sort_by(|a, b| a.as_str().cmp(b.as_str()));
        self.document_types.dedup();
        self.business_processes.sort_by_key(|p| p.code());
        self.business_processes.dedup();
        Ok(self)
    }

    /// A canonical description of the query, which binds page tokens to it.
    pub fn describe(&self) -> String {
        format!("document search where {self:?}")
    }

    /// The filters as the audit trail records them (no personal data among them).
    pub fn audit_details(&self) -> serde_json::Value {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
        serde_json::json!({
            "org_unit": self.org_unit.as_ref().map(OrgUnitCode::as_str),
            "document_types": self.document_types.iter().map(DocumentTypeCode::as_str).collect::<Vec<_>>(),
            "business_processes": self.business_processes.iter().map(|p| p.code()).collect::<Vec<_>>(),
            "work_order_number": self.work_order_number.as_ref().map(WorkOrderNumber::as_str),
            "filed_after": time(self.filed_after),
            "filed_before": time(self.filed_before),
            "original_after": time(self.original_after),
            "original_before": time(self.original_before),
            "customer_class": self.customer_class.map(CustomerClass::code),
            "customer_status": self.customer_status.map(CustomerStatus::code),
            "source_system": self.source_system.as_ref().map(SourceSystem::as_str),
            "legacy_reference": self.legacy_reference.as_ref().map(LegacyReference::as_str),
            "order_by": self.order.code(),
        })
    }
}

/// Where the reach and the filter leave a search: a subtree, one account, or everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchScope {
    pub org_unit: Option<OrgUnitCode>,
    pub account: Option<AccountNumber>,
}

/// Where the next page of a search starts. Both orders key on (filed_at, id); the reference
/// order puts the account number first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCursor {
    pub account: Option<AccountNumber>,
    pub filed_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor for SearchCursor {
    fn encode(&self) -> String {
        format!(
            "{}/{}/{}",
            self.account.as_ref().map_or("", AccountNumber::as_str),
            self.filed_at.timestamp_micros(),
            self.id
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '/');
        let account = match parts.next()? {
            "" => None,
            text => Some(AccountNumber::parse(text).ok()?),
        };
        Some(Self {
            account,
            filed_at: DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?,
            id: Uuid::parse_str(parts.next()?).ok()?,
        })
    }
}

impl Archive {
    /// Searches every archive the caller may see; see [`DocumentSearch`]. The basic `view`
    /// leaves the pages out, as ListDocuments does; the view is not part of the query, so a
    /// page token serves either.
    pub async fn search_documents(
        &self,
        actor: &Actor,
        search: &DocumentSearch,
        view: DocumentView,
        page: PageRequest<SearchCursor>,
    ) -> Result<Page<Document, SearchCursor>, Error> {
        let resource = Resource::named("documents:search");
        let details = search.audit_details();
        self.audited_with(actor, "SearchDocuments", resource, details, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            let (org_unit, account) = narrow_to_reach(&grant, search.org_unit.as_ref())?;
            let scope = SearchScope { org_unit, account };
            let visibility = Visibility {
                clearance: grant.clearance(),
                types: grant.visible_types(),
            };
            // A cursor of the other order cannot come with a valid token (the order is part
            // of the description), but a reference cursor must carry its account.
            if search.order == DocumentOrder::Reference
                && page.after.as_ref().is_some_and(|c| c.account.is_none())
            {
                return Err(Error::invalid(
                    "page_token",
                    "is not a token of this search",
                ));
            }
            let documents = self
                .db
                .search_documents(
                    search,
                    &scope,
                    &visibility,
                    view,
                    page.after.as_ref(),
                    page.size + 1,
                )
                .await?;
            // Titles name holders as customers' fields do: masked for masked roles.
            let documents = self.present_documents(&grant, documents).await?;
            let order = search.order;
            Ok(Page::from_overfetch(documents, page.size, |d| {
                SearchCursor {
                    account: (order == DocumentOrder::Reference).then(|| d.account.clone()),
                    filed_at: d.filed_at,
                    id: d.id,
                }
            }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_whose_original_range_is_empty_is_rejected() {
        let now = Utc::now();
        let search = DocumentSearch {
            original_after: Some(now),
            original_before: Some(now),
            ..Default::default()
        };
        assert!(search.validate().is_err());
    }

    #[test]
    fn the_same_types_in_another_order_describe_the_same_search() {
        let types = |codes: &[&str]| DocumentSearch {
            document_types: codes
                .iter()
                .map(|c| DocumentTypeCode::parse(c).unwrap())
                .collect(),
            ..Default::default()
        };
        let a = types(&["notice", "application-form"]).validate().unwrap();
        let b = types(&["application-form", "notice", "notice"])
            .validate()
            .unwrap();
        assert_eq!(a.describe(), b.describe());
    }

    #[test]
    fn too_many_types_are_rejected() {
        let search = DocumentSearch {
            document_types: (0..=MAX_SEARCH_TYPES)
                .map(|i| DocumentTypeCode::parse(&format!("t{i}")).unwrap())
                .collect(),
            ..Default::default()
        };
        assert!(search.validate().is_err());
    }

    #[test]
    fn the_two_orders_describe_different_searches() {
        let reference = DocumentSearch {
            order: DocumentOrder::Reference,
            ..Default::default()
        };
        assert_ne!(reference.describe(), DocumentSearch::default().describe());
    }

    #[test]
    fn a_search_cursor_round_trips_with_and_without_an_account() {
        for account in [None, Some(AccountNumber::parse("1201000001").unwrap())] {
            let cursor = SearchCursor {
                account,
                filed_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
                id: Uuid::now_v7(),
            };
            assert_eq!(SearchCursor::decode(&cursor.encode()), Some(cursor));
        }
        assert_eq!(SearchCursor::decode("x/1/2"), None);
    }
}
