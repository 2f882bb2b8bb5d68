//! Versions of documents: correcting a filed document makes a new version by a named person,
//! with a reason; every earlier version stays readable.
//!
//! Who sees a version: whoever sees the document as it is now *and* the version's own type. A
//! correction that reclassifies a misfiled identity proof as one hides its earlier,
//! public-looking version from the roles that may not see identity proofs.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use super::declassification::Declassification;
use super::document::{document_not_found, document_resource};
use super::page_intake::PageIntake;
use super::pages::{PageInfo, PageSpan, Sha256Digest};
use super::presentation::mask_version;
use crate::domain::names::DocumentName;
use crate::domain::{Actor, Confidentiality, Grant, Permission, ScanRule};
use crate::domain::{
    Archive, BusinessProcess, Document, DocumentTypeCode, Error, Title, WorkOrderNumber,
};
use crate::storage::{NewVersion, VersionInsert};

/// The system and person who made a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAuthor {
    pub system: String,
    pub person: String,
}

impl VersionAuthor {
    pub fn of(actor: &Actor) -> Self {
        Self {
            system: actor.system.clone(),
            person: actor.person.clone(),
        }
    }
}

/// Why a document was corrected: 1 to 500 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionReason(String);

impl CorrectionReason {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is required: say why the document is corrected".into());
        }
        if trimmed.chars().count() > 500 {
            return Err("must be at most 500 characters".into());
        }
        if trimmed.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The metadata a correction changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentChanges {
    pub document_type: Option<DocumentTypeCode>,
    pub business_process: Option<BusinessProcess>,
    /// `Some(None)` clears the work order number.
    pub work_order_number: Option<Option<WorkOrderNumber>>,
    pub title: Option<Title>,
}

/// What a correction says before its pages arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionHeader {
    pub name: DocumentName,
    /// The version the caller read: the correction is refused if it is no longer current.
    pub expected_version: u32,
    pub reason: CorrectionReason,
    pub changes: DocumentChanges,
}

/// One message of a correction after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrectionPart {
    /// The next page is this page (1-based) of the current version.
    KeepPage(u32),
    /// Starts the next page, a new one.
    PageStart {
        expected_sha256: Option<Sha256Digest>,
    },
    /// The next bytes of the current new page.
    Chunk(Bytes),
}

/// One version of a document as its history lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentVersion {
    pub version: u32,
    pub document_type: DocumentTypeCode,
    pub business_process: BusinessProcess,
    pub work_order_number: Option<WorkOrderNumber>,
    pub title: Title,
    pub page_count: u32,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub author: VersionAuthor,
    /// Empty for the filing (version 1).
    pub reason: String,
    pub confidentiality: Confidentiality,
}

impl Document {
    /// The next version of this document: `changes` applied, with `pages` (or the same pages
    /// when `None`).
    pub(crate) fn corrected(
        &self,
        changes: &DocumentChanges,
        pages: Option<Vec<PageInfo>>,
        confidentiality: Confidentiality,
        at: DateTime<Utc>,
    ) -> Document {
        Document {
            document_type: changes
                .document_type
                .clone()
                .unwrap_or_else(|| self.document_type.clone()),
            business_process: changes.business_process.unwrap_or(self.business_process),
            work_order_number: changes
                .work_order_number
                .clone()
                .unwrap_or_else(|| self.work_order_number.clone()),
            title: changes.title.clone().unwrap_or_else(|| self.title.clone()),
            version: self.version + 1,
            current_version: self.version + 1,
            page_count: pages.as_ref().map_or(self.page_count, |p| p.len() as u32),
            size_bytes: pages.as_ref().map_or(self.size_bytes, |p| {
                p.iter().map(|page| page.size_bytes).sum()
            }),
            pages: pages.unwrap_or_else(|| self.pages.clone()),
            version_created_at: at,
            confidentiality,
            ..self.clone()
        }
    }

    /// Whether `other` has the same metadata and page contents in the same order.
    pub(crate) fn same_content_as(&self, other: &Document) -> bool {
        let digests = |d: &Document| d.pages.iter().map(|p| p.sha256).collect::<Vec<_>>();
        self.document_type == other.document_type
            && self.business_process == other.business_process
            && self.work_order_number == other.work_order_number
            && self.title == other.title
            && digests(self) == digests(other)
    }

    /// The version's content as an audit event records it.
    fn version_details(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "document_type": self.document_type.as_str(),
            "business_process": self.business_process.code(),
            "work_order_number": self.work_order_number.as_ref().map(WorkOrderNumber::as_str),
            "title": self.title.as_str(),
            "pages": self.pages.iter().map(|p| p.sha256.to_hex()).collect::<Vec<_>>(),
        })
    }
}

impl Archive {
    /// Corrects a document: a new version with the changed metadata and pages, by the actor,
    /// for `header.reason`. Refused (`Aborted`) when the document is no longer at
    /// `header.expected_version`.
    pub async fn correct_document<S>(
        &self,
        actor: &Actor,
        header: CorrectionHeader,
        parts: S,
    ) -> Result<Document, Error>
    where
        S: Stream<Item = Result<CorrectionPart, Error>> + Send + Unpin,
    {
        let resource = document_resource(&header.name);
        self.audited_change(actor, "CorrectDocument", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::CorrectDocuments)?;
            let name = &header.name;
            let current = self.visible_document(&grant, name).await?;
            // Checked before the pages arrive, so a doomed correction uploads nothing; checked
            // again when it commits.
            if current.destruction.is_some() {
                return Err(destroyed(name));
            }
            require_current(name, header.expected_version, current.version)?;
            let confidentiality = match &header.changes.document_type {
                Some(code) if *code != current.document_type => {
                    let document_type = self.document_type(code).await?;
                    if !grant.sees(&document_type.code, document_type.confidentiality) {
                        return Err(Error::PermissionDenied(format!(
                            "role {:?} may not file documents of type {}",
                            actor.role, document_type.code
                        )));
                    }
                    document_type.confidentiality
                }
                _ => current.confidentiality,
            };
            let new_type = header
                .changes
                .document_type
                .as_ref()
                .unwrap_or(&current.document_type);
            let declassification = self
                .declassification_for(actor, &current, new_type, confidentiality)
                .await?;

            // Before any page object is written: orders the uploads against disposal's deletes.
            let (uploads_began, rule) = tokio::join!(self.db.clock_now(), self.scan_rule(new_type));
            let (uploads_began, rule) = (uploads_began?, rule?);
            let pages = self.receive_correction_pages(&current, parts, &rule).await?;
            let corrected =
                current.corrected(&header.changes, pages, confidentiality, self.clock.now());
            if corrected.same_content_as(&current) {
                return Err(Error::invalid(
                    "header.update_mask",
                    "the correction changes nothing: name changed fields in update_mask or send pages",
                ));
            }
            let author = VersionAuthor::of(actor);
            let event = event.with_details(serde_json::json!({
                "reason": header.reason.as_str(),
                "old": current.version_details(),
                "new": corrected.version_details(),
                "declassification": declassification.as_ref().map(Declassification::name),
            }));
            let new = NewVersion {
                document: &corrected,
                expected_version: header.expected_version,
                author: &author,
                reason: header.reason.as_str(),
                uploads_began,
                declassification: declassification.as_ref().map(|approval| approval.id),
            };
            match self.db.insert_version(&new, &event).await? {
                VersionInsert::Inserted => {
                    self.wake_rendition_workers();
                    Ok(corrected)
                }
                VersionInsert::Stale { current_version } => {
                    Err(stale(name, header.expected_version, current_version))
                }
                VersionInsert::Destroyed => Err(destroyed(name)),
                VersionInsert::Missing => Err(document_not_found(name)),
            }
        })
        .await
    }

    /// Receives the new version's pages; `None` when the stream sent no page parts at all.
    async fn receive_correction_pages<S>(
        &self,
        current: &Document,
        mut parts: S,
        rule: &ScanRule,
    ) -> Result<Option<Vec<PageInfo>>, Error>
    where
        S: Stream<Item = Result<CorrectionPart, Error>> + Send + Unpin,
    {
        // New pages are judged against the new version's type; kept pages keep their check.
        let mut intake =
            PageIntake::new(&self.pages, self.limits, &self.filing_buffer).judging(rule);
        let mut any_part = false;
        let outcome: Result<(), Error> = async {
            while let Some(part) = self.next_part(&mut parts).await? {
                any_part = true;
                match part? {
                    CorrectionPart::KeepPage(number) => {
                        let page = current
                            .pages
                            .iter()
                            .find(|page| page.number == number)
                            .ok_or_else(|| {
                                Error::invalid(
                                    "keep_page.page_number",
                                    format!(
                                        "version {} has no page {number}; it has {} pages",
                                        current.version,
                                        current.pages.len()
                                    ),
                                )
                            })?;
                        intake.keep(page).await?;
                    }
                    CorrectionPart::PageStart { expected_sha256 } => {
                        intake.start_page(expected_sha256).await?;
                    }
                    CorrectionPart::Chunk(bytes) => intake.write(bytes).await?,
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = outcome {
            intake.abort().await;
            return Err(error);
        }
        let pages = intake.finish().await?;
        Ok(any_part.then_some(pages))
    }

    /// Returns one version of a document (GetDocument with a version).
    pub async fn document_version(
        &self,
        actor: &Actor,
        name: &DocumentName,
        version: u32,
    ) -> Result<Document, Error> {
        self.audited(actor, "GetDocument", document_resource(name), async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            let document = self
                .visible_version(&grant, name, Some(version), PageSpan::ALL)
                .await?;
            self.present_document(&grant, document).await
        })
        .await
    }

    /// Lists a document's versions the caller may see, oldest first.
    pub async fn list_document_versions(
        &self,
        actor: &Actor,
        name: &DocumentName,
    ) -> Result<Vec<DocumentVersion>, Error> {
        self.audited(
            actor,
            "ListDocumentVersions",
            document_resource(name),
            async {
                let policy = self.policy();
                let grant = policy.grant(actor)?;
                grant.require(Permission::ReadDocuments)?;
                self.visible_document(&grant, name).await?;
                let versions = self.db.document_versions(name).await?;
                let mask = self.free_text_mask(&grant, &name.account).await?;
                Ok(versions
                    .into_iter()
                    .filter(|v| grant.sees(&v.document_type, v.confidentiality))
                    .map(|v| mask_version(mask.as_ref(), v))
                    .collect())
            },
        )
        .await
    }

    /// The version (the current one for `None`) with its pages of `pages`, if the caller sees
    /// the document now and the version's own type; otherwise `NotFound`.
    pub(crate) async fn visible_version(
        &self,
        grant: &Grant<'_>,
        name: &DocumentName,
        version: Option<u32>,
        pages: PageSpan,
    ) -> Result<Document, Error> {
        let current = self.visible_document_pages(grant, name, pages).await?;
        let Some(version) = version.filter(|v| *v != current.version) else {
            return Ok(current);
        };
        match self.db.document_version(name, version, pages).await? {
            Some(document) if grant.sees(&document.document_type, document.confidentiality) => {
                Ok(document)
            }
            _ => Err(Error::NotFound(format!(
                "version {version} of document {name} not found"
            ))),
        }
    }
}

/// `Aborted` unless the caller corrects the current version.
fn require_current(name: &DocumentName, expected: u32, current: u32) -> Result<(), Error> {
    if expected == current {
        Ok(())
    } else {
        Err(stale(name, expected, current))
    }
}

fn stale(name: &DocumentName, expected: u32, current: u32) -> Error {
    Error::Aborted(format!(
        "document {name} is at version {current}, not {expected}: someone corrected it since you read it; read it again and decide"
    ))
}

fn destroyed(name: &DocumentName) -> Error {
    Error::FailedPrecondition(format!(
        "document {name} was destroyed; a destroyed document cannot be corrected"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountNumber, ClientRequestId, MediaType, SourceSystem};

    fn page(number: u32, byte: u8) -> PageInfo {
        PageInfo {
            number,
            media_type: MediaType::Jpeg,
            size_bytes: 10,
            sha256: Sha256Digest([byte; 32]),
            rendition: crate::domain::RenditionState::Pending,
            scan: crate::domain::ScanCheck::default(),
        }
    }

    fn document() -> Document {
        let filed_at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        Document {
            id: uuid::Uuid::now_v7(),
            account: AccountNumber::parse("1201000001").unwrap(),
            document_type: DocumentTypeCode::parse("notice").unwrap(),
            business_process: BusinessProcess::NewConnection,
            work_order_number: Some(WorkOrderNumber::parse("WO-1").unwrap()),
            title: Title::parse("通知书").unwrap(),
            source_system: SourceSystem::parse("marketing").unwrap(),
            client_request_id: ClientRequestId::parse("r-1").unwrap(),
            version: 1,
            pages: vec![page(1, 1), page(2, 2)],
            page_count: 2,
            size_bytes: 20,
            filed_at,
            original_at: filed_at,
            legacy_reference: None,
            legacy_system: None,
            current_version: 1,
            customer_revision: 1,
            version_created_at: filed_at,
            confidentiality: Confidentiality::Public,
            destruction: None,
        }
    }

    #[test]
    fn a_correction_changes_only_the_named_fields_and_counts_up_the_version() {
        let old = document();
        let changes = DocumentChanges {
            title: Some(Title::parse("更正后的通知书").unwrap()),
            work_order_number: Some(None),
            ..Default::default()
        };
        let at = old.filed_at + chrono::TimeDelta::days(3);
        let new = old.corrected(&changes, None, old.confidentiality, at);
        assert_eq!(new.version, 2);
        assert_eq!(new.current_version, 2);
        assert_eq!(new.title.as_str(), "更正后的通知书");
        assert_eq!(new.work_order_number, None);
        assert_eq!(new.document_type, old.document_type);
        assert_eq!(new.pages, old.pages);
        assert_eq!(new.filed_at, old.filed_at);
        assert_eq!(new.version_created_at, at);
        assert!(!new.same_content_as(&old));
    }

    #[test]
    fn a_correction_with_the_same_metadata_and_pages_changes_nothing() {
        let old = document();
        let same_pages = Some(vec![page(1, 1), page(2, 2)]);
        let new = old.corrected(
            &DocumentChanges::default(),
            same_pages,
            old.confidentiality,
            old.filed_at,
        );
        assert!(new.same_content_as(&old));
        let reordered = old.corrected(
            &DocumentChanges::default(),
            Some(vec![page(1, 2), page(2, 1)]),
            old.confidentiality,
            old.filed_at,
        );
        assert!(!reordered.same_content_as(&old));
    }

    #[test]
    fn a_reason_must_not_be_blank_or_too_long() {
        assert!(CorrectionReason::parse("  ").is_err());
        assert!(CorrectionReason::parse(&"x".repeat(501)).is_err());
        assert_eq!(
            CorrectionReason::parse(" 扫描件模糊，重新扫描 ")
                .unwrap()
                .as_str(),
            "扫描件模糊，重新扫描"
        );
    }

    #[test]
    fn only_the_current_version_may_be_corrected() {
        let name = document().name();
        assert!(require_current(&name, 2, 2).is_ok());
        assert!(matches!(
            require_current(&name, 1, 2),
            Err(Error::Aborted(_))
        ));
    }
}
