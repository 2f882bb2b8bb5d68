//! Queries of disposal: candidates, destruction lists, and the approval that destroys.
//!
//! The page objects of destroyed documents are deleted afterwards, following the protocol in
//! `content_destructions.rs`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::Database;
use super::codec::{decode, decode_confidentiality, encode, parse_column};
use super::retention::{ExpiredRow, active_hold_sql, rule};
use crate::domain::{
    AccountNumber, AuditEvent, Decision, DestructionList, DestructionListName, DisposalCandidate,
    DocumentName, DocumentTypeCode, ExpiredDocument, ListState, OrgUnitCode, Reason, Title,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct CandidateRow {
    document_id: Uuid,
    account_number: String,
    org_unit_code: String,
    document_type: String,
    confidentiality: i16,
    title: String,
    retention_class: String,
    retention_trigger: String,
    original_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    page_count: i32,
    on_hold: bool,
    destroyed: bool,
    on_other_open_list: bool,
}

impl TryFrom<CandidateRow> for DisposalCandidate {
    type Error = StorageError;

    fn try_from(row: CandidateRow) -> Result<Self, StorageError> {
        Ok(DisposalCandidate {
            name: DocumentName {
                account: parse_column("account_number", &row.account_number, AccountNumber::parse)?,
                document_id: row.document_id,
            },
            org_unit: parse_column("org_unit_code", &row.org_unit_code, OrgUnitCode::parse)?,
            document_type: parse_column(
                "document_type",
                &row.document_type,
                DocumentTypeCode::parse,
            )?,
            confidentiality: decode_confidentiality(row.confidentiality)?,
            title: parse_column("title", &row.title, Title::parse)?,
            rule: rule(&row.retention_class, &row.retention_trigger)?,
            original_at: row.original_at,
            account_closed_at: row.closed_at,
            page_count: u32::try_from(row.page_count)
                .map_err(|error| StorageError::Unexpected(error.into()))?,
            on_hold: row.on_hold,
            destroyed: row.destroyed,
            on_other_open_list: row.on_other_open_list,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ListRow {
    list_id: Uuid,
    org_unit_code: String,
    reason: String,
    state: String,
    proposed_by: String,
    proposer_person: String,
    propose_time: DateTime<Utc>,
    decided_by: Option<String>,
    decide_time: Option<DateTime<Utc>>,
    decision_note: Option<String>,
}

/// The candidates among `ids`; `$2` is the list being decided, whose own items do not count as
/// "on another list".
const CANDIDATES: &str = concat!(
    "SELECT d.document_id, d.account_number, c.org_unit_code, v.document_type,
            t.confidentiality, v.title, t.retention_class, t.retention_trigger, d.original_at,
            coalesce(d.account_closed_at, c.closed_at) AS closed_at,
            (SELECT count(*)::int FROM pages p
             WHERE p.document_id = d.document_id AND p.version = d.current_version) AS page_count,
            ",
    active_hold_sql!(),
    " AS on_hold,
            d.destroyed_at IS NOT NULL AS destroyed,
            EXISTS (SELECT 1 FROM destruction_list_items i
                    JOIN destruction_lists l ON l.list_id = i.list_id
                    WHERE i.document_id = d.document_id AND l.state = 'proposed'
                      AND l.list_id IS DISTINCT FROM $2) AS on_other_open_list
     FROM documents d
     JOIN document_versions v ON v.document_id = d.document_id AND v.version = d.current_version
     JOIN document_types t ON t.code = v.document_type
     JOIN customers c ON c.account_number = d.account_number
     WHERE d.document_id = ANY($1)
     ORDER BY d.document_id"
);

async fn candidates_in(
    connection: &mut PgConnection,
    names: &[DocumentName],
    deciding: Option<Uuid>,
) -> Result<Vec<DisposalCandidate>, StorageError> {
    let ids: Vec<Uuid> = names.iter().map(|name| name.document_id).collect();
    let rows: Vec<CandidateRow> = sqlx::query_as(CANDIDATES)
        .bind(&ids)
        .bind(deciding)
        .fetch_all(connection)
        .await?;
    rows.into_iter().map(DisposalCandidate::try_from).collect()
}

impl Database {
    /// What decides whether each named document may be destroyed.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "disposal_candidates"))]
    pub async fn disposal_candidates(
        &self,
        names: &[DocumentName],
    ) -> Result<Vec<DisposalCandidate>, StorageError> {
        let mut connection = self.pool.acquire().await?;
        candidates_in(&mut connection, names, None).await
    }

    /// Records a proposed list, its items and its audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_destruction_list"))]
    pub async fn insert_destruction_list(
        &self,
        list: &DestructionList,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO destruction_lists (list_id, org_unit_code, reason, state, proposed_by,
                 proposer_person, propose_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(list.name.0)
        .bind(list.org_unit.as_str())
        .bind(list.reason.as_str())
        .bind(encode(list.state))
        .bind(&list.proposed_by)
        .bind(&list.proposer_person)
        .bind(list.propose_time)
        .execute(&mut *tx)
        .await?;
        let documents = &list.documents;
        sqlx::query(
            "INSERT INTO destruction_list_items (list_id, document_id, account_number,
                 document_type, title, retention_class, original_at, expire_time, page_count)
             SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::timestamptz[], $8::timestamptz[], $9::int[])",
        )
        .bind(list.name.0)
        .bind(
            documents
                .iter()
                .map(|d| d.name.document_id)
                .collect::<Vec<_>>(),
        )
        .bind(
            documents
                .iter()
                .map(|d| d.name.account.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            documents
                .iter()
                .map(|d| d.document_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            documents
                .iter()
                .map(|d| d.title.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            documents
                .iter()
                .map(|d| encode(d.rule.class))
                .collect::<Vec<_>>(),
        )
        .bind(documents.iter().map(|d| d.original_at).collect::<Vec<_>>())
        .bind(documents.iter().map(|d| d.expire_time).collect::<Vec<_>>())
        .bind(
            documents
                .iter()
                .map(|d| d.page_count as i32)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        self.commit_with_event(tx, event).await
    }

    /// A list with its documents in expiry order.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "destruction_list"))]
    pub async fn destruction_list(
        &self,
        name: &DestructionListName,
    ) -> Result<Option<DestructionList>, StorageError> {
        let row: Option<ListRow> =
            sqlx::query_as("SELECT * FROM destruction_lists WHERE list_id = $1")
                .bind(name.0)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // The retention trigger is the type's, kept in the catalog; the class was copied.
        let items: Vec<ExpiredRow> = sqlx::query_as(
            "SELECT i.document_id, i.account_number, i.document_type, i.title,
                    i.retention_class, t.retention_trigger, i.original_at, i.expire_time,
                    i.page_count
             FROM destruction_list_items i
             JOIN document_types t ON t.code = i.document_type
             WHERE i.list_id = $1
             ORDER BY i.expire_time, i.document_id",
        )
        .bind(name.0)
        .fetch_all(&self.pool)
        .await?;
        let decision = match (row.decided_by, row.decide_time) {
            (Some(decided_by), Some(time)) => Some(Decision {
                decided_by,
                time,
                note: row
                    .decision_note
                    .as_deref()
                    .map(|note| parse_column("decision_note", note, Reason::parse))
                    .transpose()?,
            }),
            _ => None,
        };
        Ok(Some(DestructionList {
            name: DestructionListName(row.list_id),
            org_unit: parse_column("org_unit_code", &row.org_unit_code, OrgUnitCode::parse)?,
            reason: parse_column("reason", &row.reason, Reason::parse)?,
            state: decode("state", &row.state)?,
            proposed_by: row.proposed_by,
            proposer_person: row.proposer_person,
            propose_time: row.propose_time,
            decision,
            documents: items
                .into_iter()
                .map(ExpiredDocument::try_from)
                .collect::<Result<_, _>>()?,
        }))
    }

    /// Rejects a list still proposed; `false` when it was decided meanwhile.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "reject_destruction_list"))]
    pub async fn reject_destruction_list(
        &self,
        name: &DestructionListName,
        decision: &Decision,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let decided = decide(&mut tx, name, ListState::Rejected, decision).await?;
        if decided {
            self.commit_with_event(tx, event).await?;
        }
        Ok(decided)
    }

    /// Opens the transaction an approval checks and destroys in; dropping it rolls back.
    pub async fn begin_disposal(
        &self,
        name: &DestructionListName,
    ) -> Result<Disposal<'_>, StorageError> {
        Ok(Disposal {
            database: self,
            tx: self.pool.begin().await?,
            list: *name,
        })
    }
}

async fn decide(
    tx: &mut Transaction<'_, Postgres>,
    name: &DestructionListName,
    state: ListState,
    decision: &Decision,
) -> Result<bool, StorageError> {
    let updated = sqlx::query(
        "UPDATE destruction_lists
         SET state = $2, decided_by = $3, decide_time = $4, decision_note = $5
         WHERE list_id = $1 AND state = 'proposed'",
    )
    .bind(name.0)
    .bind(encode(state))
    .bind(&decision.decided_by)
    .bind(decision.time)
    .bind(decision.note.as_ref().map(Reason::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The transaction of one approval.
pub struct Disposal<'a> {
    database: &'a Database,
    tx: Transaction<'static, Postgres>,
    list: DestructionListName,
}

impl Disposal<'_> {
    /// Locks the list and says what state it is in.
    pub async fn state(&mut self) -> Result<Option<ListState>, StorageError> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM destruction_lists WHERE list_id = $1 FOR UPDATE")
                .bind(self.list.0)
                .fetch_optional(&mut *self.tx)
                .await?;
        state
            .as_deref()
            .map(|state| decode("state", state))
            .transpose()
    }

    /// Locks the documents and their accounts (so no hold, closure change or correction lands
    /// in between), then reads the candidates afresh.
    pub async fn candidates(
        &mut self,
        names: &[DocumentName],
    ) -> Result<Vec<DisposalCandidate>, StorageError> {
        let mut accounts: Vec<&str> = names.iter().map(|n| n.account.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        sqlx::query(
            "SELECT 1 FROM customers WHERE account_number = ANY($1)
             ORDER BY account_number FOR UPDATE",
        )
        .bind(&accounts)
        .execute(&mut *self.tx)
        .await?;
        let ids: Vec<Uuid> = names.iter().map(|n| n.document_id).collect();
        sqlx::query(
            "SELECT 1 FROM documents WHERE document_id = ANY($1) ORDER BY document_id FOR UPDATE",
        )
        .bind(&ids)
        .execute(&mut *self.tx)
        .await?;
        // A new statement: it sees every hold committed before the locks were granted.
        candidates_in(&mut self.tx, names, Some(self.list.0)).await
    }

    /// Destroys the documents: tombstones, pages gone, contents no live page uses queued for
    /// deletion, the list decided, the event recorded, all in one commit.
    pub async fn destroy(
        mut self,
        names: &[DocumentName],
        decision: &Decision,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let ids: Vec<Uuid> = names.iter().map(|n| n.document_id).collect();
        sqlx::query(
            "UPDATE documents SET destroyed_at = $2, destruction_list_id = $3
             WHERE document_id = ANY($1)",
        )
        .bind(&ids)
        .bind(decision.time)
        .bind(self.list.0)
        .execute(&mut *self.tx)
        .await?;
        let mut contents: Vec<Vec<u8>> =
            sqlx::query_scalar("DELETE FROM pages WHERE document_id = ANY($1) RETURNING sha256")
                .bind(&ids)
                .fetch_all(&mut *self.tx)
                .await?;
        contents.sort_unstable();
        contents.dedup();
        sqlx::query(
            "WITH unused AS (
                 DELETE FROM page_contents c
                 WHERE c.sha256 = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.sha256 = c.sha256)
                 RETURNING c.sha256)
             INSERT INTO content_destructions (sha256, list_id)
             SELECT sha256, $2 FROM unused
             ON CONFLICT (sha256) DO UPDATE
                 SET list_id = EXCLUDED.list_id, queue_time = now(), claim_time = NULL,
                     delete_time = NULL",
        )
        .bind(&contents)
        .bind(self.list.0)
        .execute(&mut *self.tx)
        .await?;
        if !decide(&mut self.tx, &self.list, ListState::Destroyed, decision).await? {
            return Err(StorageError::Unexpected(anyhow::anyhow!(
                "destruction list {} changed state under its lock",
                self.list
            )));
        }
        self.database
            .append_audit_in(&mut self.tx, std::slice::from_ref(event))
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
