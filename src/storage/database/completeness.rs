//! Queries of `completeness_rules`, and what completeness reads of archives: one account's
//! current documents, or the report's batches of accounts with their documents counted per case
//! and type.

use uuid::Uuid;

use super::Database;
use super::codec::{decode, decode_confidentiality, encode, parse_column, work_order};
use crate::domain::{
    AccountNumber, AuditEvent, DocumentTypeCode, Filed, FiledDocument, OrgUnitCode, ReportAccount,
    ReportCursor, Rule, RuleKey,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct RuleRow {
    business_process: String,
    customer_class: String,
    document_type: String,
    min_count: i32,
    condition: String,
}

impl TryFrom<RuleRow> for Rule {
    type Error = StorageError;

    fn try_from(row: RuleRow) -> Result<Self, StorageError> {
        let key = RuleKey {
            business_process: decode("business_process", &row.business_process)?,
            customer_class: decode("customer_class", &row.customer_class)?,
            document_type: parse_column(
                "document_type",
                &row.document_type,
                DocumentTypeCode::parse,
            )?,
        };
        let condition = decode("condition", &row.condition)?;
        Rule::new(key, row.min_count.into(), condition).map_err(|error| {
            StorageError::Unexpected(anyhow::anyhow!("column min_count is invalid: {error}"))
        })
    }
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    document_id: Uuid,
    business_process: String,
    work_order_number: String,
    document_type: String,
    confidentiality: i16,
}

/// One row of a report batch: an account, and one (case, type) of its archive with the number
/// of documents; the case columns are NULL for an account without documents.
#[derive(sqlx::FromRow)]
struct BatchRow {
    account_number: String,
    org_unit_code: String,
    customer_class: String,
    status: String,
    business_process: Option<String>,
    work_order_number: Option<String>,
    document_type: Option<String>,
    documents: Option<i64>,
}

impl Database {
    /// Every rule, in key order.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "completeness_rules"))]
    pub async fn completeness_rules(&self) -> Result<Vec<Rule>, StorageError> {
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT business_process, customer_class, document_type, min_count, condition
             FROM completeness_rules
             ORDER BY business_process, customer_class, document_type",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Rule::try_from).collect()
    }

    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "completeness_rule"))]
    pub async fn completeness_rule(&self, key: &RuleKey) -> Result<Option<Rule>, StorageError> {
        let row: Option<RuleRow> = sqlx::query_as(
            "SELECT business_process, customer_class, document_type, min_count, condition
             FROM completeness_rules
             WHERE business_process = $1 AND customer_class = $2 AND document_type = $3",
        )
        .bind(encode(key.business_process))
        .bind(encode(key.customer_class))
        .bind(key.document_type.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Rule::try_from).transpose()
    }

    /// Inserts the rule or replaces the one with its key, with the audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "upsert_completeness_rule"))]
    pub async fn upsert_completeness_rule(
        &self,
        rule: &Rule,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO completeness_rules
                 (business_process, customer_class, document_type, min_count, condition)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (business_process, customer_class, document_type) DO UPDATE
             SET min_count = EXCLUDED.min_count, condition = EXCLUDED.condition,
                 update_time = now()",
        )
        .bind(encode(rule.key.business_process))
        .bind(encode(rule.key.customer_class))
        .bind(rule.key.document_type.as_str())
        .bind(rule.min_count as i32)
        .bind(encode(rule.condition))
        .execute(&mut *tx)
        .await?;
        self.commit_with_event(tx, event).await
    }

    /// Deletes a rule with the audit event; `false` (and nothing written) when there is none.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "delete_completeness_rule"))]
    pub async fn delete_completeness_rule(
        &self,
        key: &RuleKey,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM completeness_rules
             WHERE business_process = $1 AND customer_class = $2 AND document_type = $3",
        )
        .bind(encode(key.business_process))
        .bind(encode(key.customer_class))
        .bind(key.document_type.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// The current version of each of an archive's documents; destroyed ones are gone from it.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "completeness_documents"))]
    pub async fn completeness_documents(
        &self,
        account: &AccountNumber,
    ) -> Result<Vec<FiledDocument>, StorageError> {
        let rows: Vec<DocumentRow> = sqlx::query_as(
            "SELECT d.document_id, v.business_process, v.work_order_number, v.document_type,
                    t.confidentiality
             FROM documents d
             JOIN document_versions v
               ON v.document_id = d.document_id AND v.version = d.current_version
             JOIN document_types t ON t.code = v.document_type
             WHERE d.account_number = $1 AND d.destroyed_at IS NULL
             ORDER BY d.original_at, d.document_id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(FiledDocument {
                    id: row.document_id,
                    business_process: decode("business_process", &row.business_process)?,
                    work_order: work_order(&row.work_order_number)?,
                    document_type: parse_column(
                        "document_type",
                        &row.document_type,
                        DocumentTypeCode::parse,
                    )?,
                    confidentiality: decode_confidentiality(row.confidentiality)?,
                })
            })
            .collect()
    }

    /// The next `limit` accounts of an org unit's subtree after `after`, in (org unit, account)
    /// order, each with its current documents (destroyed ones left out) counted per (process,
    /// work order, type).
    ///
    /// The subtree is a range of codes rather than a LIKE, so that the bounds are index
    /// conditions in a generic plan too: codes are digits, and every code below `unit` lies in
    /// [unit, unit || ':') in the "C" collation, ':' being the character after '9'. See the
    /// migration that adds `customers_report_order_idx` for the plan.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "completeness_batch"))]
    pub async fn completeness_batch(
        &self,
        unit: &OrgUnitCode,
        after: &ReportCursor,
        limit: usize,
    ) -> Result<Vec<ReportAccount>, StorageError> {
        let rows: Vec<BatchRow> = sqlx::query_as(
            r#"WITH batch AS MATERIALIZED (
                   SELECT account_number, org_unit_code, customer_class, status
                   FROM customers
                   WHERE (org_unit_code COLLATE "C", account_number) > ($2::text COLLATE "C", $3::text)
                     AND org_unit_code COLLATE "C" < ($1::text || ':') COLLATE "C"
                   ORDER BY org_unit_code COLLATE "C", account_number
                   LIMIT $4
               )
               SELECT b.account_number, b.org_unit_code, b.customer_class, b.status,
                      f.business_process, f.work_order_number, f.document_type, f.documents
               FROM batch b
               LEFT JOIN LATERAL (
                   SELECT v.business_process, v.work_order_number, v.document_type,
                          count(*) AS documents
                   FROM documents d
                   JOIN document_versions v
                     ON v.document_id = d.document_id AND v.version = d.current_version
                   WHERE d.account_number = b.account_number AND d.destroyed_at IS NULL
                   GROUP BY v.business_process, v.work_order_number, v.document_type
               ) f ON true
               ORDER BY b.org_unit_code COLLATE "C", b.account_number"#,
        )
        .bind(unit.as_str())
        .bind(&after.org_unit)
        .bind(&after.account)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut accounts: Vec<ReportAccount> = Vec::new();
        for row in rows {
            if accounts
                .last()
                .is_none_or(|last| last.account.as_str() != row.account_number)
            {
                accounts.push(ReportAccount {
                    account: parse_column(
                        "account_number",
                        &row.account_number,
                        AccountNumber::parse,
                    )?,
                    org_unit: parse_column(
                        "org_unit_code",
                        &row.org_unit_code,
                        OrgUnitCode::parse,
                    )?,
                    customer_class: decode("customer_class", &row.customer_class)?,
                    status: decode("status", &row.status)?,
                    filed: Vec::new(),
                });
            }
            let (Some(process), Some(order), Some(document_type), Some(count)) = (
                row.business_process,
                row.work_order_number,
                row.document_type,
                row.documents,
            ) else {
                continue;
            };
            if let Some(account) = accounts.last_mut() {
                account.filed.push(Filed {
                    business_process: decode("business_process", &process)?,
                    work_order: work_order(&order)?,
                    document_type: parse_column(
                        "document_type",
                        &document_type,
                        DocumentTypeCode::parse,
                    )?,
                    count: u32::try_from(count)
                        .map_err(|error| StorageError::Unexpected(error.into()))?,
                    visible: Vec::new(),
                });
            }
        }
        Ok(accounts)
    }
}
