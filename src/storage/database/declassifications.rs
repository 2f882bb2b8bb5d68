//! Queries of `declassification_approvals`: a second person's approval of a correction that
//! lowers a document's confidentiality; the correction marks it used (see versions.rs).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{number, parse_column};
use crate::domain::{AuditEvent, Declassification, DocumentName, DocumentTypeCode, Reason};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    approval_id: Uuid,
    version: i32,
    from_document_type: String,
    document_type: String,
    reason: String,
    approved_by: String,
    approver_person: String,
    approve_time: DateTime<Utc>,
    expire_time: DateTime<Utc>,
    used_in_version: Option<i32>,
}

impl ApprovalRow {
    fn into_declassification(
        self,
        document: &DocumentName,
    ) -> Result<Declassification, StorageError> {
        Ok(Declassification {
            id: self.approval_id,
            document: document.clone(),
            version: number("version", self.version)?,
            from_document_type: parse_column(
                "from_document_type",
                &self.from_document_type,
                DocumentTypeCode::parse,
            )?,
            document_type: parse_column(
                "document_type",
                &self.document_type,
                DocumentTypeCode::parse,
            )?,
            reason: parse_column("reason", &self.reason, Reason::parse)?,
            approved_by: self.approved_by,
            approver_person: self.approver_person,
            approve_time: self.approve_time,
            expire_time: self.expire_time,
            used_in_version: self
                .used_in_version
                .map(|version| number("used_in_version", version))
                .transpose()?,
        })
    }
}

impl Database {
    /// Records an approval with its audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_declassification"))]
    pub async fn insert_declassification(
        &self,
        approval: &Declassification,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO declassification_approvals (approval_id, document_id, version,
                 from_document_type, document_type, reason, approved_by, approver_person,
                 approve_time, expire_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(approval.id)
        .bind(approval.document.document_id)
        .bind(approval.version as i32)
        .bind(approval.from_document_type.as_str())
        .bind(approval.document_type.as_str())
        .bind(approval.reason.as_str())
        .bind(&approval.approved_by)
        .bind(&approval.approver_person)
        .bind(approval.approve_time)
        .bind(approval.expire_time)
        .execute(&mut *tx)
        .await?;
        self.commit_with_event(tx, event).await
    }

    /// The unused approvals of retyping version `version` of `document` as `document_type`
    /// that have not expired by `now`, oldest first.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "usable_declassifications"))]
    pub async fn usable_declassifications(
        &self,
        document: &DocumentName,
        version: u32,
        document_type: &DocumentTypeCode,
        now: DateTime<Utc>,
    ) -> Result<Vec<Declassification>, StorageError> {
        let rows: Vec<ApprovalRow> = sqlx::query_as(
            "SELECT a.approval_id, a.version, a.from_document_type, a.document_type, a.reason,
                    a.approved_by, a.approver_person, a.approve_time, a.expire_time,
                    a.used_in_version
             FROM declassification_approvals a
             JOIN documents d ON d.document_id = a.document_id
             WHERE a.document_id = $1 AND d.account_number = $2 AND a.version = $3
               AND a.document_type = $4 AND a.used_in_version IS NULL AND a.expire_time > $5
             ORDER BY a.approve_time",
        )
        .bind(document.document_id)
        .bind(document.account.as_str())
        .bind(version as i32)
        .bind(document_type.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| row.into_declassification(document))
            .collect()
    }
}
