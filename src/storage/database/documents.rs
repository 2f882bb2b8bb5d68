//! Queries of `documents`, `document_versions`, `pages` and `page_contents`.
//!
//! A document is written in one transaction: its identity, its first version, its pages and
//! any page contents not yet known. The page objects are already in the store by then (see
//! `domain::filing`), so a committed row never points at a missing object.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{
    decode, decode_confidentiality, encode, number, parse_column, rendition_state, scan_check,
    sha256, work_order, work_order_text,
};
use super::pages::insert_pages;
use crate::domain::{
    AccountNumber, AuditEvent, ClientRequestId, Confidentiality, Destruction, DestructionListName,
    Document, DocumentCursor, DocumentFilter, DocumentName, DocumentTypeCode, DocumentView,
    FilingHeader, LegacyReference, LegacySystem, OrgUnitCode, PageInfo, PageSpan, SourceSystem,
    Title, VersionAuthor, Visibility, WorkOrderNumber,
};
use crate::storage::StorageError;

/// A document ready to be committed.
pub struct NewDocument<'a> {
    pub id: Uuid,
    pub header: &'a FilingHeader,
    pub pages: &'a [PageInfo],
    pub confidentiality: Confidentiality,
    pub filed_at: DateTime<Utc>,
    /// The customer's closure when an import files into a closed account (see the migration
    /// `keep_original_dates`): the closure this document's retention counts from.
    pub account_closed_at: Option<DateTime<Utc>>,
    /// Who files it: the author of version 1.
    pub author: &'a VersionAuthor,
    /// PostgreSQL's clock before the first page object was written (see content_destructions.rs).
    pub uploads_began: DateTime<Utc>,
}

// The statements reading current versions share their parts (sql/): the document's columns
// with its owner's org unit, the joins that bring them, and the page arrays of one document.

/// Selects the current versions of documents with their pages and the owning customer's org
/// unit, followed by the given clauses: one statement, so a read costs one round trip.
macro_rules! select_documents {
    ($clauses:expr) => {
        concat!(
            include_str!("sql/document_columns.sql"),
            ", p.page_numbers, p.media_types, p.page_sizes, p.page_digests, p.rendition_states,
               p.rendition_failures, p.scan_warnings, p.blanks
             FROM documents d ",
            include_str!("sql/document_joins.sql"),
            " CROSS JOIN LATERAL (",
            include_str!("sql/page_arrays.sql"),
            ") p ",
            $clauses
        )
    };
}

/// The same rows with empty page arrays, for the basic view: no page is read.
macro_rules! select_document_summaries {
    ($clauses:expr) => {
        concat!(
            include_str!("sql/document_columns.sql"),
            ", '{}'::int[] AS page_numbers, '{}'::text[] AS media_types,
               '{}'::bigint[] AS page_sizes, '{}'::bytea[] AS page_digests,
               '{}'::text[] AS rendition_states, '{}'::text[] AS rendition_failures,
               '{}'::text[] AS scan_warnings, '{}'::bool[] AS blanks
             FROM documents d ",
            include_str!("sql/document_joins.sql"),
            " ",
            $clauses
        )
    };
}

/// Lookups of documents by id ($1), each with only its pages from $2 to $3 (the arrays run in
/// parallel, one element per lookup): the rows say which lookup they answer (`lookup`, from 1).
macro_rules! select_document_spans {
    () => {
        concat!(
            include_str!("sql/document_columns.sql"),
            ", want.lookup, p.page_numbers, p.media_types, p.page_sizes, p.page_digests,
               p.rendition_states, p.rendition_failures, p.scan_warnings, p.blanks
             FROM UNNEST($1::uuid[], $2::int[], $3::int[])
                  WITH ORDINALITY AS want(document_id, first_page, last_page, lookup)
             JOIN documents d ON d.document_id = want.document_id ",
            include_str!("sql/document_joins.sql"),
            " CROSS JOIN LATERAL (",
            include_str!("sql/page_arrays.sql"),
            " AND pp.page_number BETWEEN want.first_page AND want.last_page) p"
        )
    };
}

pub(super) use {select_document_spans, select_document_summaries, select_documents};

/// A row of `select_documents!`: a document, its pages as parallel arrays, and its owner's
/// org unit (for the caller's reach).
#[derive(sqlx::FromRow)]
pub(super) struct DocumentPagesRow {
    #[sqlx(flatten)]
    document: DocumentRow,
    org_unit_code: String,
    page_numbers: Vec<i32>,
    media_types: Vec<String>,
    page_sizes: Vec<i64>,
    page_digests: Vec<Vec<u8>>,
    rendition_states: Vec<Option<String>>,
    rendition_failures: Vec<Option<String>>,
    scan_warnings: Vec<Option<String>>,
    blanks: Vec<Option<bool>>,
}

impl DocumentPagesRow {
    pub(super) fn into_owned_document(self) -> Result<(Document, OrgUnitCode), StorageError> {
        let org_unit = parse_column("org_unit_code", &self.org_unit_code, OrgUnitCode::parse)?;
        let mut pages = Vec::with_capacity(self.page_numbers.len());
        let mut media_types = self.media_types.into_iter();
        let mut sizes = self.page_sizes.into_iter();
        let mut digests = self.page_digests.into_iter();
        let mut states = self.rendition_states.into_iter();
        let mut failures = self.rendition_failures.into_iter();
        let mut warnings = self.scan_warnings.into_iter();
        let mut blanks = self.blanks.into_iter();
        let short = || StorageError::Unexpected(anyhow::anyhow!("page arrays of unequal length"));
        for page_number in self.page_numbers {
            pages.push(PageInfo::try_from(PageRow {
                page_number,
                media_type: media_types.next().ok_or_else(short)?,
                size_bytes: sizes.next().ok_or_else(short)?,
                sha256: digests.next().ok_or_else(short)?,
                rendition_state: states.next().ok_or_else(short)?,
                rendition_failure: failures.next().ok_or_else(short)?,
                scan_warnings: warnings.next().ok_or_else(short)?,
                blank: blanks.next().ok_or_else(short)?,
            })?);
        }
        Ok((self.document.into_document(pages)?, org_unit))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DocumentRow {
    document_id: Uuid,
    account_number: String,
    source_system: String,
    client_request_id: String,
    filed_at: DateTime<Utc>,
    original_at: DateTime<Utc>,
    legacy_reference: Option<String>,
    legacy_system: Option<String>,
    version: i32,
    document_type: String,
    business_process: String,
    work_order_number: String,
    title: String,
    page_count: i32,
    size_bytes: i64,
    confidentiality: i16,
    current_version: i32,
    customer_revision: i32,
    version_created_at: DateTime<Utc>,
    destroyed_at: Option<DateTime<Utc>>,
    destruction_list_id: Option<Uuid>,
}

impl DocumentRow {
    pub(super) fn into_document(self, pages: Vec<PageInfo>) -> Result<Document, StorageError> {
        Ok(Document {
            id: self.document_id,
            account: parse_column("account_number", &self.account_number, AccountNumber::parse)?,
            document_type: parse_column(
                "document_type",
                &self.document_type,
                DocumentTypeCode::parse,
            )?,
            business_process: decode("business_process", &self.business_process)?,
            work_order_number: work_order(&self.work_order_number)?,
            title: parse_column("title", &self.title, Title::parse)?,
            source_system: parse_column("source_system", &self.source_system, SourceSystem::parse)?,
            client_request_id: parse_column(
                "client_request_id",
                &self.client_request_id,
                ClientRequestId::parse,
            )?,
            version: number("version", self.version)?,
            pages,
            page_count: number("page_count", self.page_count)?,
            size_bytes: u64::try_from(self.size_bytes).map_err(|_| {
                StorageError::Unexpected(anyhow::anyhow!(
                    "column size_bytes holds {}",
                    self.size_bytes
                ))
            })?,
            filed_at: self.filed_at,
            original_at: self.original_at,
            legacy_reference: self
                .legacy_reference
                .as_deref()
                .map(|text| parse_column("legacy_reference", text, LegacyReference::parse))
                .transpose()?,
            legacy_system: self
                .legacy_system
                .as_deref()
                .map(|text| parse_column("legacy_system", text, LegacySystem::parse))
                .transpose()?,
            current_version: number("current_version", self.current_version)?,
            customer_revision: number("customer_revision", self.customer_revision)?,
            version_created_at: self.version_created_at,
            confidentiality: decode_confidentiality(self.confidentiality)?,
            destruction: match (self.destroyed_at, self.destruction_list_id) {
                (Some(destroyed_at), Some(list)) => Some(Destruction {
                    list: DestructionListName(list),
                    destroyed_at,
                }),
                _ => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PageRow {
    page_number: i32,
    media_type: String,
    size_bytes: i64,
    sha256: Vec<u8>,
    rendition_state: Option<String>,
    rendition_failure: Option<String>,
    /// The page's warnings joined with `codec::SCAN_WARNING_SEPARATOR`.
    scan_warnings: Option<String>,
    blank: Option<bool>,
}

impl TryFrom<PageRow> for PageInfo {
    type Error = StorageError;

    fn try_from(row: PageRow) -> Result<Self, StorageError> {
        let corrupt = |what: &str| StorageError::Unexpected(anyhow::anyhow!("page row has {what}"));
        Ok(PageInfo {
            number: u32::try_from(row.page_number).map_err(|_| corrupt("a negative number"))?,
            media_type: decode("media_type", &row.media_type)?,
            size_bytes: u64::try_from(row.size_bytes).map_err(|_| corrupt("a negative size"))?,
            sha256: sha256("sha256", row.sha256)?,
            rendition: rendition_state(row.rendition_state.as_deref(), row.rendition_failure)?,
            scan: scan_check(row.scan_warnings.as_deref(), row.blank),
        })
    }
}

impl Database {
    /// Commits a filed document; `None` when its (source system, client request id) has
    /// already been used, in which case nothing is written.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_document"))]
    pub async fn insert_document(
        &self,
        new: &NewDocument<'_>,
        event: &AuditEvent,
    ) -> Result<Option<Document>, StorageError> {
        let header = new.header;
        let mut tx = self.pool.begin().await?;
        // The account's revision is read in the filing's transaction: the one in force now.
        let legacy = header.legacy.as_ref();
        let filed: Option<(DateTime<Utc>, DateTime<Utc>, i32)> = sqlx::query_as(
            "INSERT INTO documents (document_id, account_number, source_system,
                 client_request_id, filed_at, customer_revision, original_at, legacy_reference,
                 legacy_system, account_closed_at)
             SELECT $1, $2, $3, $4, $5, revision, $6, $7, $8, $9
             FROM customers WHERE account_number = $2
             ON CONFLICT (source_system, client_request_id) DO NOTHING
             RETURNING filed_at, original_at, customer_revision",
        )
        .bind(new.id)
        .bind(header.account.as_str())
        .bind(header.source_system.as_str())
        .bind(header.client_request_id.as_str())
        .bind(new.filed_at)
        .bind(legacy.map(|legacy| legacy.original_at))
        .bind(legacy.and_then(|legacy| legacy.reference.as_ref().map(LegacyReference::as_str)))
        .bind(legacy.map(|legacy| legacy.system.as_str()))
        .bind(new.account_closed_at)
        .fetch_optional(&mut *tx)
        .await?;
        // A concurrent filing with the same request id makes this insert wait for it and then
        // do nothing.
        let Some((filed_at, original_at, customer_revision)) = filed else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO document_versions (document_id, version, document_type,
                 business_process, work_order_number, title, created_at, author_system,
                 author_person, page_count, size_bytes)
             VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new.id)
        .bind(header.document_type.as_str())
        .bind(encode(header.business_process))
        .bind(work_order_text(header.work_order_number.as_ref()))
        .bind(header.title.as_str())
        .bind(filed_at)
        .bind(&new.author.system)
        .bind(&new.author.person)
        .bind(new.pages.len() as i32)
        .bind(new.pages.iter().map(|page| page.size_bytes).sum::<u64>() as i64)
        .execute(&mut *tx)
        .await?;
        insert_pages(&mut tx, new.id, 1, new.pages, new.uploads_began).await?;
        if let Some(place) = &header.paper {
            super::paper::insert_first_location(
                &mut tx,
                new.id,
                place,
                &format!("{}/{}", new.author.system, new.author.person),
                filed_at,
            )
            .await?;
        }

        self.append_audit_in(&mut tx, std::slice::from_ref(event))
            .await?;
        tx.commit().await?;
        Ok(Some(Document {
            id: new.id,
            account: header.account.clone(),
            document_type: header.document_type.clone(),
            business_process: header.business_process,
            work_order_number: header.work_order_number.clone(),
            title: header.title.clone(),
            source_system: header.source_system.clone(),
            client_request_id: header.client_request_id.clone(),
            version: 1,
            page_count: new.pages.len() as u32,
            size_bytes: new.pages.iter().map(|page| page.size_bytes).sum(),
            pages: new.pages.to_vec(),
            filed_at,
            original_at,
            legacy_reference: legacy.and_then(|legacy| legacy.reference.clone()),
            legacy_system: legacy.map(|legacy| legacy.system.clone()),
            current_version: 1,
            customer_revision: number("customer_revision", customer_revision)?,
            version_created_at: filed_at,
            confidentiality: new.confidentiality,
            destruction: None,
        }))
    }

    /// The current version of a document of the named archive, with its owner's org unit.
    /// Lookups arriving together share one statement (see `document_reads`).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document"))]
    pub async fn document(
        &self,
        name: &DocumentName,
    ) -> Result<Option<(Document, OrgUnitCode)>, StorageError> {
        self.document_reads.read(name, PageSpan::ALL).await
    }

    /// The same with only the pages of `pages` listed (`page_count` still counts them all).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_pages"))]
    pub async fn document_pages(
        &self,
        name: &DocumentName,
        pages: PageSpan,
    ) -> Result<Option<(Document, OrgUnitCode)>, StorageError> {
        self.document_reads.read(name, pages).await
    }

    /// The document filed by a request, if any.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_by_request"))]
    pub async fn document_by_request(
        &self,
        source_system: &SourceSystem,
        client_request_id: &ClientRequestId,
    ) -> Result<Option<Document>, StorageError> {
        // Every filing asks, and almost all are new: a plain index lookup answers them. The
        // whole document's statement took PostgreSQL longer to plan than to run (about
        // 170 µs a filing at county scale), so it runs only for a retry.
        let filed: Option<Uuid> = sqlx::query_scalar(
            "SELECT document_id FROM documents WHERE source_system = $1 AND client_request_id = $2",
        )
        .bind(source_system.as_str())
        .bind(client_request_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(document_id) = filed else {
            return Ok(None);
        };
        let row: Option<DocumentPagesRow> =
            sqlx::query_as(select_documents!("WHERE d.document_id = $1"))
                .bind(document_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row
            .map(DocumentPagesRow::into_owned_document)
            .transpose()?
            .map(|(document, _)| document))
    }

    /// An archive's documents matching `filter`, newest first, after a cursor, with the
    /// account's org unit when any document matched.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "list_documents"))]
    pub async fn list_documents(
        &self,
        account: &AccountNumber,
        filter: &DocumentFilter,
        visibility: &Visibility,
        view: DocumentView,
        after: Option<&DocumentCursor>,
        limit: usize,
    ) -> Result<(Vec<Document>, Option<OrgUnitCode>), StorageError> {
        // One filter, two selections: the basic view skips gathering each document's pages.
        macro_rules! listing {
            () => {
                "WHERE d.account_number = $1
               AND d.destroyed_at IS NULL
               AND ($2::text IS NULL OR v.document_type = $2)
               AND ($3::text IS NULL OR v.business_process = $3)
               AND ($4::text IS NULL OR v.work_order_number = $4)
               AND ($5::timestamptz IS NULL OR d.filed_at >= $5)
               AND ($6::timestamptz IS NULL OR d.filed_at < $6)
               AND ($7::timestamptz IS NULL OR (d.filed_at, d.document_id) < ($7, $8))
               AND t.confidentiality <= $10
               AND ($11::text[] IS NULL OR v.document_type = ANY($11))
             ORDER BY d.filed_at DESC, d.document_id DESC
             LIMIT $9"
            };
        }
        let sql = match view {
            DocumentView::Full => select_documents!(listing!()),
            DocumentView::Basic => select_document_summaries!(listing!()),
        };
        let rows: Vec<DocumentPagesRow> = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(filter.document_type.as_ref().map(DocumentTypeCode::as_str))
            .bind(filter.business_process.map(encode))
            .bind(
                filter
                    .work_order_number
                    .as_ref()
                    .map(WorkOrderNumber::as_str),
            )
            .bind(filter.filed_after)
            .bind(filter.filed_before)
            .bind(after.map(|cursor| cursor.filed_at))
            .bind(after.map(|cursor| cursor.id))
            .bind(limit as i64)
            .bind(visibility.clearance.level())
            .bind(visibility.types.as_deref())
            .fetch_all(&self.pool)
            .await?;
        let mut org_unit = None;
        let documents = rows
            .into_iter()
            .map(|row| {
                let (document, unit) = row.into_owned_document()?;
                org_unit = Some(unit);
                Ok(document)
            })
            .collect::<Result<_, StorageError>>()?;
        Ok((documents, org_unit))
    }
}
