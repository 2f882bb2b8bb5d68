//! Queries of document versions: a correction's new version, a given version, the history.
//!
//! A correction commits in one transaction that locks the document row, checks that the
//! version the caller corrected is still current, adds the version with its pages, moves
//! `documents.current_version` and appends the audit event. New page objects are in the store
//! before it begins (as for filing), so a committed version never lacks a page.

use chrono::{DateTime, Utc};

use super::Database;
use super::codec::{
    decode, decode_confidentiality, encode, number, page_bound, parse_column, work_order,
    work_order_text,
};
use super::documents::{DocumentRow, PageRow};
use super::pages::insert_pages;
use crate::domain::{
    AuditEvent, Document, DocumentName, DocumentTypeCode, DocumentVersion, PageInfo, PageSpan,
    Title, VersionAuthor,
};
use crate::storage::StorageError;

/// A corrected version ready to be committed: `document` carries its number, metadata and
/// pages.
pub struct NewVersion<'a> {
    pub document: &'a Document,
    /// The version the correction was made against.
    pub expected_version: u32,
    pub author: &'a VersionAuthor,
    pub reason: &'a str,
    /// PostgreSQL's clock before the first new page object was written (see content_destructions.rs).
    pub uploads_began: DateTime<Utc>,
    /// The second person's approval a declassifying correction uses (see declassifications.rs).
    pub declassification: Option<uuid::Uuid>,
}

/// What committing a correction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionInsert {
    Inserted,
    /// Another correction committed first; the document is at this version now.
    Stale {
        current_version: u32,
    },
    /// The document was destroyed; only its tombstone remains.
    Destroyed,
    Missing,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version: i32,
    document_type: String,
    business_process: String,
    work_order_number: String,
    title: String,
    created_at: DateTime<Utc>,
    author_system: String,
    author_person: String,
    reason: String,
    page_count: i64,
    size_bytes: i64,
    confidentiality: i16,
}

impl TryFrom<VersionRow> for DocumentVersion {
    type Error = StorageError;

    fn try_from(row: VersionRow) -> Result<Self, StorageError> {
        Ok(DocumentVersion {
            version: number("version", row.version)?,
            document_type: parse_column(
                "document_type",
                &row.document_type,
                DocumentTypeCode::parse,
            )?,
            business_process: decode("business_process", &row.business_process)?,
            work_order_number: work_order(&row.work_order_number)?,
            title: parse_column("title", &row.title, Title::parse)?,
            created_at: row.created_at,
            author: VersionAuthor {
                system: row.author_system,
                person: row.author_person,
            },
            reason: row.reason,
            page_count: u32::try_from(row.page_count)
                .map_err(|error| StorageError::Unexpected(error.into()))?,
            size_bytes: u64::try_from(row.size_bytes)
                .map_err(|error| StorageError::Unexpected(error.into()))?,
            confidentiality: decode_confidentiality(row.confidentiality)?,
        })
    }
}

impl Database {
    /// Commits a corrected version with its audit event, unless the document moved on.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_version"))]
    pub async fn insert_version(
        &self,
        new: &NewVersion<'_>,
        event: &AuditEvent,
    ) -> Result<VersionInsert, StorageError> {
        let document = new.document;
        let mut tx = self.pool.begin().await?;
        // The row lock makes concurrent corrections of one document take turns, so the
        // second sees the first's version and is refused instead of overwriting it.
        let state: Option<(i32, bool)> = sqlx::query_as(
            "SELECT current_version, destroyed_at IS NOT NULL FROM documents
             WHERE document_id = $1 AND account_number = $2
             FOR UPDATE",
        )
        .bind(document.id)
        .bind(document.account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((current_version, destroyed)) = state else {
            return Ok(VersionInsert::Missing);
        };
        if destroyed {
            return Ok(VersionInsert::Destroyed);
        }
        let current_version = number("current_version", current_version)?;
        if current_version != new.expected_version {
            return Ok(VersionInsert::Stale { current_version });
        }
        sqlx::query(
            "INSERT INTO document_versions (document_id, version, document_type,
                 business_process, work_order_number, title, created_at, author_system,
                 author_person, reason, page_count, size_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(document.id)
        .bind(document.version as i32)
        .bind(document.document_type.as_str())
        .bind(encode(document.business_process))
        .bind(work_order_text(document.work_order_number.as_ref()))
        .bind(document.title.as_str())
        .bind(document.version_created_at)
        .bind(&new.author.system)
        .bind(&new.author.person)
        .bind(new.reason)
        .bind(document.page_count as i32)
        .bind(document.size_bytes as i64)
        .execute(&mut *tx)
        .await?;
        insert_pages(
            &mut tx,
            document.id,
            document.version,
            &document.pages,
            new.uploads_began,
        )
        .await?;
        sqlx::query("UPDATE documents SET current_version = $2 WHERE document_id = $1")
            .bind(document.id)
            .bind(document.version as i32)
            .execute(&mut *tx)
            .await?;
        if let Some(approval) = new.declassification {
            // Bound to the corrected version, whose row lock is held: no other correction can
            // use it meanwhile.
            sqlx::query(
                "UPDATE declassification_approvals SET used_in_version = $2
                 WHERE approval_id = $1 AND used_in_version IS NULL",
            )
            .bind(approval)
            .bind(document.version as i32)
            .execute(&mut *tx)
            .await?;
        }
        self.append_audit_in(&mut tx, std::slice::from_ref(event))
            .await?;
        tx.commit().await?;
        Ok(VersionInsert::Inserted)
    }

    /// One version of a document of the named archive, with that version's pages of `pages`.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_version"))]
    pub async fn document_version(
        &self,
        name: &DocumentName,
        version: u32,
        pages: PageSpan,
    ) -> Result<Option<Document>, StorageError> {
        let row: Option<DocumentRow> = sqlx::query_as(
            "SELECT d.document_id, d.account_number, d.source_system, d.client_request_id,
                    d.filed_at, d.original_at, d.legacy_reference, d.legacy_system,
                    v.version, v.document_type, v.business_process,
                    v.work_order_number, v.title, v.page_count, v.size_bytes,
                    t.confidentiality, d.current_version,
                    d.customer_revision, v.created_at AS version_created_at, d.destroyed_at,
                    d.destruction_list_id
             FROM documents d
             JOIN document_versions v ON v.document_id = d.document_id AND v.version = $3
             JOIN document_types t ON t.code = v.document_type
             WHERE d.document_id = $1 AND d.account_number = $2",
        )
        .bind(name.document_id)
        .bind(name.account.as_str())
        .bind(version as i32)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let pages: Vec<PageRow> = sqlx::query_as(
            "SELECT p.page_number, c.media_type, c.size_bytes, c.sha256, c.rendition_state,
                    c.rendition_failure, array_to_string(p.scan_warnings, E'\\x1f') AS scan_warnings,
                    c.blank
             FROM pages p
             JOIN page_contents c ON c.sha256 = p.sha256
             WHERE p.document_id = $1 AND p.version = $2 AND p.page_number BETWEEN $3 AND $4
             ORDER BY p.page_number",
        )
        .bind(name.document_id)
        .bind(version as i32)
        .bind(page_bound(pages.first))
        .bind(page_bound(pages.last))
        .fetch_all(&self.pool)
        .await?;
        let pages = pages
            .into_iter()
            .map(PageInfo::try_from)
            .collect::<Result<_, _>>()?;
        row.into_document(pages).map(Some)
    }

    /// Every version of a document, oldest first.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_versions"))]
    pub async fn document_versions(
        &self,
        name: &DocumentName,
    ) -> Result<Vec<DocumentVersion>, StorageError> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT v.version, v.document_type, v.business_process, v.work_order_number,
                    v.title, v.created_at, v.author_system, v.author_person, v.reason,
                    t.confidentiality,
                    (SELECT count(*) FROM pages p
                      WHERE p.document_id = v.document_id AND p.version = v.version)
                        AS page_count,
                    (SELECT coalesce(sum(c.size_bytes), 0)::bigint FROM pages p
                       JOIN page_contents c ON c.sha256 = p.sha256
                      WHERE p.document_id = v.document_id AND p.version = v.version)
                        AS size_bytes
             FROM documents d
             JOIN document_versions v ON v.document_id = d.document_id
             JOIN document_types t ON t.code = v.document_type
             WHERE d.document_id = $1 AND d.account_number = $2
             ORDER BY v.version",
        )
        .bind(name.document_id)
        .bind(name.account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DocumentVersion::try_from).collect()
    }
}
