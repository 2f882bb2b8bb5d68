//! Queries of the `document_types` catalog.

use super::Database;
use super::codec::{decode, decode_confidentiality, parse_column};
use crate::domain::{DocumentType, DocumentTypeCode};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct DocumentTypeRow {
    code: String,
    display_name: String,
    chinese_name: String,
    retention_class: String,
    retention_trigger: String,
    contains_personal_data: bool,
    confidentiality: i16,
}

impl TryFrom<DocumentTypeRow> for DocumentType {
    type Error = StorageError;

    fn try_from(row: DocumentTypeRow) -> Result<Self, StorageError> {
        Ok(DocumentType {
            code: parse_column("code", &row.code, DocumentTypeCode::parse)?,
            display_name: row.display_name,
            chinese_name: row.chinese_name,
            retention_class: decode("retention_class", &row.retention_class)?,
            retention_trigger: decode("retention_trigger", &row.retention_trigger)?,
            contains_personal_data: row.contains_personal_data,
            confidentiality: decode_confidentiality(row.confidentiality)?,
        })
    }
}

impl Database {
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_types"))]
    pub async fn document_types(&self) -> Result<Vec<DocumentType>, StorageError> {
        let rows: Vec<DocumentTypeRow> =
            sqlx::query_as("SELECT * FROM document_types ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(DocumentType::try_from).collect()
    }

    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "document_type"))]
    pub async fn document_type(
        &self,
        code: &DocumentTypeCode,
    ) -> Result<Option<DocumentType>, StorageError> {
        let row: Option<DocumentTypeRow> =
            sqlx::query_as("SELECT * FROM document_types WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(DocumentType::try_from).transpose()
    }
}
