//! Queries of `scan_rules` and the scan quality report's batches (pages' `scan_warnings`,
//! contents' `blank`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{decode, decode_confidentiality, parse_column, scan_check};
use crate::domain::{
    AccountNumber, DocumentTypeCode, MediaType, OrgUnitCode, ScanReportScope, ScanRule,
    ScanWarningDocument, WarnedPage,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct ScanRuleRow {
    document_type: String,
    min_dpi: i32,
    colour_required: bool,
    allowed_media_types: Vec<String>,
    refuse_on_warning: bool,
}

#[derive(sqlx::FromRow)]
struct WarnedDocumentRow {
    document_id: Uuid,
    account_number: String,
    org_unit_code: String,
    document_type: String,
    confidentiality: i16,
    filed_at: DateTime<Utc>,
    page_numbers: Vec<i32>,
    scan_warnings: Vec<Option<String>>,
    blanks: Vec<Option<bool>>,
}

impl Database {
    /// The scan rule of a document type, if it has a row.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "scan_rule"))]
    pub async fn scan_rule(
        &self,
        code: &DocumentTypeCode,
    ) -> Result<Option<ScanRule>, StorageError> {
        let row: Option<ScanRuleRow> =
            sqlx::query_as("SELECT * FROM scan_rules WHERE document_type = $1")
                .bind(code.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(ScanRule {
                document_type: parse_column(
                    "document_type",
                    &row.document_type,
                    DocumentTypeCode::parse,
                )?,
                min_dpi: u32::try_from(row.min_dpi).unwrap_or(0),
                colour_required: row.colour_required,
                allowed_media_types: row
                    .allowed_media_types
                    .iter()
                    .map(|mime| decode::<MediaType>("allowed_media_types", mime))
                    .collect::<Result<_, _>>()?,
                refuse_on_warning: row.refuse_on_warning,
            })
        })
        .transpose()
    }

    /// The next `limit` documents after `after` (in id order) of the scope whose current
    /// version has pages with warnings or blank pages, each with those pages.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "scan_warning_batch"))]
    pub async fn scan_warning_batch(
        &self,
        scope: &ScanReportScope,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<ScanWarningDocument>, StorageError> {
        let rows: Vec<WarnedDocumentRow> = sqlx::query_as(
            r#"SELECT d.document_id, d.account_number, o.org_unit_code, v.document_type,
                      t.confidentiality, d.filed_at, w.page_numbers, w.scan_warnings, w.blanks
               FROM documents d
               JOIN customers o ON o.account_number = d.account_number
               JOIN document_versions v
                 ON v.document_id = d.document_id AND v.version = d.current_version
               JOIN document_types t ON t.code = v.document_type
               CROSS JOIN LATERAL (
                   SELECT array_agg(p.page_number ORDER BY p.page_number) AS page_numbers,
                          array_agg(array_to_string(p.scan_warnings, E'\x1f')
                                    ORDER BY p.page_number) AS scan_warnings,
                          array_agg(c.blank ORDER BY p.page_number) AS blanks
                   FROM pages p
                   JOIN page_contents c ON c.sha256 = p.sha256
                   WHERE p.document_id = d.document_id AND p.version = d.current_version
                     AND (cardinality(p.scan_warnings) > 0 OR c.blank)
               ) w
               WHERE w.page_numbers IS NOT NULL
                 AND d.destroyed_at IS NULL
                 AND o.org_unit_code COLLATE "C" >= $1::text COLLATE "C"
                 AND o.org_unit_code COLLATE "C" < ($1::text || ':') COLLATE "C"
                 AND v.document_type = ANY($2)
                 AND ($3::uuid IS NULL OR d.document_id > $3)
                 AND ($4::timestamptz IS NULL OR d.filed_at >= $4)
                 AND ($5::timestamptz IS NULL OR d.filed_at < $5)
               ORDER BY d.document_id
               LIMIT $6"#,
        )
        .bind(scope.unit.as_str())
        .bind(scope.types.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .bind(after)
        .bind(scope.filed_after)
        .bind(scope.filed_before)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let pages = row
                    .page_numbers
                    .iter()
                    .zip(row.scan_warnings.iter().zip(&row.blanks))
                    .map(|(&number, (warnings, &blank))| WarnedPage {
                        number: number as u32,
                        reasons: scan_check(warnings.as_deref(), blank).reasons(),
                    })
                    .collect();
                Ok(ScanWarningDocument {
                    account: parse_column(
                        "account_number",
                        &row.account_number,
                        AccountNumber::parse,
                    )?,
                    document_id: row.document_id,
                    org_unit: parse_column(
                        "org_unit_code",
                        &row.org_unit_code,
                        OrgUnitCode::parse,
                    )?,
                    document_type: parse_column(
                        "document_type",
                        &row.document_type,
                        DocumentTypeCode::parse,
                    )?,
                    confidentiality: decode_confidentiality(row.confidentiality)?,
                    filed_at: row.filed_at,
                    pages,
                })
            })
            .collect()
    }
}
