//! Fixity checks of page contents: which to check next, what a check found, and the contents
//! whose last check failed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{parse_column, sha256};
use crate::domain::{AccountNumber, DocumentName, Sha256Digest};
use crate::storage::StorageError;

/// A content whose last fixity check failed, and the documents whose pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixityFailure {
    pub sha256: Sha256Digest,
    pub failure: String,
    pub check_time: DateTime<Utc>,
    pub documents: Vec<DocumentName>,
}

/// A failed content's row: digest, failure, when, and its documents' accounts and ids.
type FailureRow = (Vec<u8>, String, DateTime<Utc>, Vec<String>, Vec<Uuid>);

impl Database {
    /// Takes the `limit` contents checked longest ago (never checked first) and stamps them
    /// checked now, so another replica's scrub takes others.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "claim_fixity_checks"))]
    pub async fn claim_fixity_checks(&self, limit: u32) -> Result<Vec<Sha256Digest>, StorageError> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "UPDATE page_contents SET check_time = clock_timestamp()
             WHERE sha256 IN (SELECT sha256 FROM page_contents
                              ORDER BY check_time NULLS FIRST LIMIT $1
                              FOR UPDATE SKIP LOCKED)
             RETURNING sha256",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|bytes| sha256("sha256", bytes))
            .collect()
    }

    /// Records what the check of a content found: `None` when the object was whole.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "record_fixity_check"))]
    pub async fn record_fixity_check(
        &self,
        sha256: &Sha256Digest,
        failure: Option<&str>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE page_contents SET check_time = clock_timestamp(), check_failure = $2
             WHERE sha256 = $1",
        )
        .bind(sha256.0.as_slice())
        .bind(failure)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every content whose last check failed, with the documents that show it.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "fixity_failures"))]
    pub async fn fixity_failures(&self) -> Result<Vec<FixityFailure>, StorageError> {
        let rows: Vec<FailureRow> = sqlx::query_as(
            "SELECT c.sha256, c.check_failure, c.check_time,
                    coalesce(array_agg(d.account_number ORDER BY d.document_id)
                             FILTER (WHERE d.document_id IS NOT NULL), '{}'),
                    coalesce(array_agg(d.document_id ORDER BY d.document_id)
                             FILTER (WHERE d.document_id IS NOT NULL), '{}')
             FROM page_contents c
             LEFT JOIN (SELECT DISTINCT p.sha256, p.document_id, doc.account_number
                        FROM pages p JOIN documents doc ON doc.document_id = p.document_id)
                  AS d ON d.sha256 = c.sha256
             WHERE c.check_failure IS NOT NULL
             GROUP BY c.sha256, c.check_failure, c.check_time
             ORDER BY c.check_time",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(digest, failure, check_time, accounts, ids)| {
                let documents = accounts
                    .iter()
                    .zip(ids)
                    .map(|(account, document_id)| {
                        Ok(DocumentName {
                            account: parse_column("account_number", account, AccountNumber::parse)?,
                            document_id,
                        })
                    })
                    .collect::<Result<_, StorageError>>()?;
                Ok(FixityFailure {
                    sha256: sha256("sha256", digest)?,
                    failure,
                    check_time,
                    documents,
                })
            })
            .collect()
    }
}
