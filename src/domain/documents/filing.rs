//! Filing a document: pages arrive as a stream, are checked and stored by content address,
//! and only then does the document become visible, in one transaction.
//!
//! The order is the contract between the two stores: every page object is written before the
//! metadata commits, so a committed document never lacks a page, while a filing that fails or
//! is cut off leaves at most unreferenced page objects, which no caller can see.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use uuid::Uuid;

use super::document::{Document, FilingHeader, document_resource};
use super::page_intake::PageIntake;
use super::pages::{PageInfo, Sha256Digest};
use super::versions::VersionAuthor;
use crate::domain::names::DocumentName;
use crate::domain::{Actor, Grant, Permission};
use crate::domain::{Archive, Error, ScanRule};
use crate::domain::{AuditEvent, Resource};
use crate::domain::{CustomerStatus, LegacyOrigin};
use crate::storage::NewDocument;

/// One message of a filing after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilingPart {
    /// Starts the next page, optionally with the checksum the caller computed.
    PageStart {
        expected_sha256: Option<Sha256Digest>,
    },
    /// The next bytes of the current page.
    Chunk(Bytes),
}

/// What a filing did: filed the document, or answered a retry with the first filing's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filing {
    New(Document),
    Retry(Document),
}

impl Filing {
    pub fn document(&self) -> &Document {
        match self {
            Self::New(document) | Self::Retry(document) => document,
        }
    }

    pub fn into_document(self) -> Document {
        match self {
            Self::New(document) | Self::Retry(document) => document,
        }
    }
}

impl Archive {
    /// Files a document from its header and the stream of its pages. A retry with the same
    /// source system and client request id returns the first filing's document.
    pub async fn file_document<S>(
        &self,
        actor: &Actor,
        header: FilingHeader,
        parts: S,
    ) -> Result<Filing, Error>
    where
        S: Stream<Item = Result<FilingPart, Error>> + Send + Unpin,
    {
        let account = header.account.clone();
        let resource = Resource::named(format!("customers/{account}/documents")).account(&account);
        self.audited_change(actor, "FileDocument", resource, |event| async move {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::FileDocuments)?;
            // The paper's place is the keepers' record, whoever files the scan.
            if header.paper.is_some() {
                grant.require(Permission::ManagePaperCustody)?;
            }
            // An original date or a legacy origin rewrites what retention counts from: only
            // an import may set them.
            if let Some(legacy) = &header.legacy {
                grant.require(Permission::ImportRecords)?;
                legacy.check(self.clock.now())?;
            }
            if header.source_system.as_str() != actor.system {
                return Err(Error::PermissionDenied(format!(
                    "system {:?} may not file documents as source system {:?}",
                    actor.system,
                    header.source_system.as_str()
                )));
            }
            // The four lookups at once, one round trip of waiting. A retry is answered only
            // once the caller is shown to reach the account and see the document type; any
            // other caller gets what a fresh filing would, never the earlier document or its
            // name. The database's clock is read before any page object is written (see
            // storage::database::content_destructions).
            let (earlier, customer, document_type, uploads_began, rule) = tokio::join!(
                self.db
                    .document_by_request(&header.source_system, &header.client_request_id),
                self.reachable_customer(&grant, &header.account),
                self.document_type(&header.document_type),
                self.db.clock_now(),
                self.scan_rule(&header.document_type)
            );
            let customer = customer?;
            let sees_type = document_type
                .as_ref()
                .is_ok_and(|t| grant.sees(&t.code, t.confidentiality));
            if sees_type && let Some(document) = earlier? {
                let document = self.judge_retry(&grant, &header, document).await?;
                self.audit.record(retry_event(event, &document)).await;
                return Ok(Filing::Retry(document));
            }
            // A closed account takes only imported records: they keep the closure they were
            // filed under, so reopening and closing again does not move their retention.
            let account_closed_at = match (customer.status, &header.legacy) {
                (CustomerStatus::Active, _) => None,
                (CustomerStatus::Closed, Some(_)) => customer.closed_at,
                (CustomerStatus::Closed, None) => {
                    return Err(Error::FailedPrecondition(format!(
                        "customer customers/{} is closed; reopen the account before filing into it, or import the record with its legacy_origin (permission import-records)",
                        header.account
                    )));
                }
            };
            let (document_type, uploads_began, rule) = (document_type?, uploads_began?, rule?);
            if !grant.sees(&document_type.code, document_type.confidentiality) {
                return Err(Error::PermissionDenied(format!(
                    "role {:?} may not file documents of type {}",
                    actor.role, document_type.code
                )));
            }

            let pages = self.store_pages(parts, &rule).await?;
            let author = VersionAuthor::of(actor);
            let new = NewDocument {
                id: Uuid::now_v7(),
                header: &header,
                pages: &pages,
                confidentiality: document_type.confidentiality,
                filed_at: self.clock.now(),
                account_closed_at,
                author: &author,
                uploads_began,
            };
            let name = DocumentName {
                account: header.account.clone(),
                document_id: new.id,
            };
            let event = AuditEvent {
                resource: document_resource(&name),
                ..event
            }
            .with_details(serde_json::json!({
                "document_type": header.document_type.as_str(),
                // Which pages were filed with scan warnings (reasons are in the page rows).
                "scan_warnings": pages
                    .iter()
                    .filter(|p| p.scan.warnings.as_ref().is_some_and(|w| !w.is_empty()))
                    .map(|p| p.number)
                    .collect::<Vec<_>>(),
                "title": header.title.as_str(),
                "pages": pages.iter().map(|p| p.sha256.to_hex()).collect::<Vec<_>>(),
                // Both times of an imported record: when it entered Custodian, and where
                // and when it was formed.
                "file_time": new.filed_at.to_rfc3339(),
                "legacy_origin": header.legacy.as_ref().map(LegacyOrigin::details),
                "into_closed_account": account_closed_at.is_some(),
                "paper_location": header.paper.as_ref().map(|place| serde_json::json!({
                    "room": place.room.as_str(),
                    "shelf": place.shelf.as_str(),
                    "box": place.box_number.as_ref().map(|b| b.as_str()),
                    "item": place.item.as_ref().map(|i| i.as_str()),
                })),
            }));
            match self.db.insert_document(&new, &event).await? {
                Some(document) => {
                    self.wake_rendition_workers();
                    Ok(Filing::New(document))
                }
                // A concurrent retry committed first; answer as that one did.
                None => {
                    let document = self
                        .db
                        .document_by_request(&header.source_system, &header.client_request_id)
                        .await?
                        .ok_or_else(|| {
                            Error::Unexpected(anyhow::anyhow!(
                                "filing request {} was a duplicate but its document is gone",
                                header.client_request_id
                            ))
                        })?;
                    let document = self.judge_retry(&grant, &header, document).await?;
                    self.audit.record(retry_event(event, &document)).await;
                    Ok(Filing::Retry(document))
                }
            }
        })
        .await
    }

    /// The answer to a filing whose request id names an earlier document: that document when
    /// the filing is its retry, `ALREADY_EXISTS` when the id was used for another. The caller
    /// reaches the filing's account and sees its type (the caller checks); the earlier
    /// document is named only if the caller also sees it.
    async fn judge_retry(
        &self,
        grant: &Grant<'_>,
        header: &FilingHeader,
        earlier: Document,
    ) -> Result<Document, Error> {
        // A retry names the same account and type, and both were just checked; a correction
        // since may have moved the document out of the caller's sight.
        let reached = earlier.account == header.account
            || match self.reachable_customer(grant, &earlier.account).await {
                Ok(_) => true,
                Err(Error::NotFound(_)) => false,
                Err(error) => return Err(error),
            };
        let visible = reached && grant.sees(&earlier.document_type, earlier.confidentiality);
        if visible && earlier.was_filed_by(header) {
            return Ok(earlier);
        }
        let used_for = if visible {
            format!("document {}", earlier.name())
        } else {
            "another document".into()
        };
        Err(Error::AlreadyExists(format!(
            "client_request_id {:?} of source system {:?} was already used for {used_for} with other metadata; use a new id for a new document",
            header.client_request_id.as_str(),
            header.source_system.as_str(),
        )))
    }

    /// Waits for the next message of a stream of page parts, at most the idle timeout.
    pub(super) async fn next_part<S, T>(&self, parts: &mut S) -> Result<Option<T>, Error>
    where
        S: Stream<Item = T> + Send + Unpin,
    {
        tokio::time::timeout(self.limits.idle_timeout, parts.next())
            .await
            .map_err(|_| {
                Error::DeadlineExceeded(format!(
                    "the stream was idle for {} s; nothing was stored",
                    self.limits.idle_timeout.as_secs()
                ))
            })
    }

    /// Receives and stores every page; on failure aborts the page being written.
    async fn store_pages<S>(&self, mut parts: S, rule: &ScanRule) -> Result<Vec<PageInfo>, Error>
    where
        S: Stream<Item = Result<FilingPart, Error>> + Send + Unpin,
    {
        let mut intake =
            PageIntake::new(&self.pages, self.limits, &self.filing_buffer).judging(rule);
        let outcome: Result<(), Error> = async {
            while let Some(part) = self.next_part(&mut parts).await? {
                match part? {
                    FilingPart::PageStart { expected_sha256 } => {
                        intake.start_page(expected_sha256).await?
                    }
                    FilingPart::Chunk(bytes) => intake.write(bytes).await?,
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
        if pages.is_empty() {
            return Err(Error::invalid(
                "page_start",
                "the document has no pages; send page_start and its chunks for each page",
            ));
        }
        Ok(pages)
    }
}

/// The event of a retried filing: it names the document the first call filed.
fn retry_event(event: AuditEvent, document: &Document) -> AuditEvent {
    AuditEvent {
        resource: document_resource(&document.name()),
        ..event
    }
    .with_details(serde_json::json!({ "retry_of": document.client_request_id.as_str() }))
}
