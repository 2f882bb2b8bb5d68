//! Queries of `loans` and `loan_items`: a loan's life, the read path's lookup of what a loan in
//! force lends, and the register. Every transition commits with its audit event; a decision
//! or an end applies only to the state it was decided from, so two custodians deciding at once
//! cannot both win.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::Database;
use super::audit::AuditRow;
use super::codec::{decode, encode, parse_column};
use super::documents::{DocumentPagesRow, select_documents};
use crate::domain::{
    AccountNumber, AuditEvent, Borrower, ChainedEvent, Document, DocumentCursor, DocumentName,
    Lent, Loan, LoanAct, LoanCursor, LoanFilter, LoanItem, LoanName, LoanNote, LoanRecord,
    LoanScope, LoanState, LoanTarget, OrgUnitCode, PersonalData, Reach,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct LoanRow {
    loan_id: Uuid,
    borrower: String,
    borrower_person: String,
    borrower_role: String,
    borrower_org_unit: Option<String>,
    purpose: String,
    purpose_note: String,
    request_time: DateTime<Utc>,
    start_time: DateTime<Utc>,
    due_time: DateTime<Utc>,
    state: String,
    personal_data: Option<String>,
    decided_by: Option<String>,
    decide_time: Option<DateTime<Utc>>,
    decision_note: Option<String>,
    ended_by: Option<String>,
    end_time: Option<DateTime<Utc>>,
    end_note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    loan_id: Uuid,
    account_number: String,
    document_id: Option<Uuid>,
    requested_pages: Option<Vec<i32>>,
    lent: bool,
    lent_pages: Option<Vec<i32>>,
}

impl ItemRow {
    fn item(&self, pages: &Option<Vec<i32>>) -> Result<LoanItem, StorageError> {
        let account = parse_column("account_number", &self.account_number, AccountNumber::parse)?;
        let target = match self.document_id {
            None => LoanTarget::Archive(account),
            Some(document_id) => LoanTarget::Document(DocumentName {
                account,
                document_id,
            }),
        };
        Ok(LoanItem {
            target,
            pages: pages
                .as_ref()
                .map(|pages| pages.iter().map(|page| *page as u32).collect()),
        })
    }
}

fn note(column: &str, text: Option<&str>) -> Result<Option<LoanNote>, StorageError> {
    text.map(|text| parse_column(column, text, LoanNote::parse))
        .transpose()
}

fn act(
    by: Option<String>,
    time: Option<DateTime<Utc>>,
    text: Option<&str>,
    column: &str,
) -> Result<Option<LoanAct>, StorageError> {
    Ok(match (by, time) {
        (Some(by), Some(time)) => Some(LoanAct {
            by,
            time,
            note: note(column, text)?,
        }),
        _ => None,
    })
}

impl LoanRow {
    fn into_loan(self, items: &[ItemRow]) -> Result<Loan, StorageError> {
        let requested = items
            .iter()
            .map(|item| item.item(&item.requested_pages))
            .collect::<Result<_, _>>()?;
        let lent = items
            .iter()
            .filter(|item| item.lent)
            .map(|item| item.item(&item.lent_pages))
            .collect::<Result<_, _>>()?;
        Ok(Loan {
            id: self.loan_id,
            borrower: Borrower {
                acted_by: self.borrower,
                person: self.borrower_person,
                role: self.borrower_role,
                org_unit: self
                    .borrower_org_unit
                    .as_deref()
                    .map(|unit| parse_column("borrower_org_unit", unit, OrgUnitCode::parse))
                    .transpose()?,
            },
            purpose: decode("purpose", &self.purpose)?,
            purpose_note: parse_column("purpose_note", &self.purpose_note, LoanNote::parse)?,
            requested,
            lent,
            start: self.start_time,
            due: self.due_time,
            record: decode("state", &self.state)?,
            request_time: self.request_time,
            personal_data: self
                .personal_data
                .as_deref()
                .map(|value| decode("personal_data", value))
                .transpose()?,
            decision: act(
                self.decided_by,
                self.decide_time,
                self.decision_note.as_deref(),
                "decision_note",
            )?,
            end: act(
                self.ended_by,
                self.end_time,
                self.end_note.as_deref(),
                "end_note",
            )?,
        })
    }
}

fn pages_column(pages: &Option<Vec<u32>>) -> Option<Vec<i32>> {
    pages
        .as_ref()
        .map(|pages| pages.iter().map(|page| *page as i32).collect())
}

/// The stored decisions a state as of `now` comes from, with the time condition that tells the
/// approved ones apart: `(record, clause)`.
fn state_condition(state: LoanState) -> (LoanRecord, &'static str) {
    match state {
        LoanState::Requested => (LoanRecord::Requested, "true"),
        LoanState::Rejected => (LoanRecord::Rejected, "true"),
        LoanState::Returned => (LoanRecord::Returned, "true"),
        LoanState::Revoked => (LoanRecord::Revoked, "true"),
        LoanState::Approved => (LoanRecord::Approved, "approved_later"),
        LoanState::Active => (LoanRecord::Approved, "active"),
        LoanState::Expired => (LoanRecord::Approved, "expired"),
    }
}

impl Database {
    /// Records a requested loan and its items with its audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_loan"))]
    pub async fn insert_loan(&self, loan: &Loan, event: &AuditEvent) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO loans (loan_id, borrower, borrower_person, borrower_role,
                 borrower_org_unit, purpose, purpose_note, request_time, start_time, due_time,
                 state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(loan.id)
        .bind(&loan.borrower.acted_by)
        .bind(&loan.borrower.person)
        .bind(&loan.borrower.role)
        .bind(loan.borrower.org_unit.as_ref().map(OrgUnitCode::as_str))
        .bind(encode(loan.purpose))
        .bind(loan.purpose_note.as_str())
        .bind(loan.request_time)
        .bind(loan.start)
        .bind(loan.due)
        .bind(encode(loan.record))
        .execute(&mut *tx)
        .await?;
        for (position, item) in loan.requested.iter().enumerate() {
            sqlx::query(
                "INSERT INTO loan_items (loan_id, position, borrower, account_number,
                     document_id, requested_pages)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(loan.id)
            .bind(position as i32)
            .bind(&loan.borrower.acted_by)
            .bind(item.target.account().as_str())
            .bind(item.target.document_id())
            .bind(pages_column(&item.pages))
            .execute(&mut *tx)
            .await?;
        }
        self.commit_with_event(tx, event).await
    }

    /// A loan with its items.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "loan"))]
    pub async fn loan(&self, loan_id: Uuid) -> Result<Option<Loan>, StorageError> {
        let row: Option<LoanRow> = sqlx::query_as("SELECT * FROM loans WHERE loan_id = $1")
            .bind(loan_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let items = self.loan_items(&[loan_id]).await?;
        row.into_loan(&items).map(Some)
    }

    async fn loan_items(&self, loan_ids: &[Uuid]) -> Result<Vec<ItemRow>, StorageError> {
        Ok(sqlx::query_as(
            "SELECT loan_id, account_number, document_id, requested_pages, lent, lent_pages
             FROM loan_items WHERE loan_id = ANY($1) ORDER BY loan_id, position",
        )
        .bind(loan_ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records an approval or rejection of a loan still requested; `false` when someone else
    /// decided it meanwhile (nothing is written then).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "decide_loan"))]
    pub async fn decide_loan(&self, loan: &Loan, event: &AuditEvent) -> Result<bool, StorageError> {
        let decision = loan.decision.as_ref();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE loans SET state = $2, start_time = $3, due_time = $4, personal_data = $5,
                 decided_by = $6, decide_time = $7, decision_note = $8
             WHERE loan_id = $1 AND state = 'requested'",
        )
        .bind(loan.id)
        .bind(encode(loan.record))
        .bind(loan.start)
        .bind(loan.due)
        .bind(loan.personal_data.map(encode))
        .bind(decision.map(|act| act.by.as_str()))
        .bind(decision.map(|act| act.time))
        .bind(decision.and_then(|act| act.note.as_ref().map(LoanNote::as_str)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        mark_lent(&mut tx, loan).await?;
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// Records a return or revocation of an approved loan; `false` when it was ended meanwhile.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "end_loan"))]
    pub async fn end_loan(&self, loan: &Loan, event: &AuditEvent) -> Result<bool, StorageError> {
        let end = loan.end.as_ref();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE loans SET state = $2, ended_by = $3, end_time = $4, end_note = $5
             WHERE loan_id = $1 AND state = 'approved'",
        )
        .bind(loan.id)
        .bind(encode(loan.record))
        .bind(end.map(|act| act.by.as_str()))
        .bind(end.map(|act| act.time))
        .bind(end.and_then(|act| act.note.as_ref().map(LoanNote::as_str)))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// What a loan in force at `now` lends `borrower` of `document` (and of `page`, when
    /// given): one probe of `loan_items_lent_to`. A document's own item wins over its archive's,
    /// then the latest approval.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "lent_to"))]
    pub async fn lent_to(
        &self,
        borrower: &str,
        document: &DocumentName,
        page: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Option<Lent>, StorageError> {
        let row: Option<(Uuid, Option<Vec<i32>>, Option<String>)> = sqlx::query_as(
            "SELECT l.loan_id, i.lent_pages, l.personal_data
             FROM loan_items i JOIN loans l ON l.loan_id = i.loan_id
             WHERE i.lent AND i.borrower = $1 AND i.account_number = $2
               AND (i.document_id = $3 OR i.document_id IS NULL)
               AND ($5::integer IS NULL OR i.lent_pages IS NULL OR $5 = ANY(i.lent_pages))
               AND l.state = 'approved' AND l.start_time <= $4 AND $4 < l.due_time
             ORDER BY i.document_id IS NULL, l.decide_time DESC
             LIMIT 1",
        )
        .bind(borrower)
        .bind(document.account.as_str())
        .bind(document.document_id)
        .bind(now)
        .bind(page.map(|page| page as i32))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(loan_id, pages, personal_data)| {
            Ok(Lent {
                loan: LoanName(loan_id),
                pages: pages.map(|pages| pages.into_iter().map(|page| page as u32).collect()),
                // An approved loan always has one; the stricter choice if a row lacks it.
                personal_data: personal_data
                    .as_deref()
                    .map(|value| decode("personal_data", value))
                    .transpose()?
                    .unwrap_or(PersonalData::Masked),
            })
        })
        .transpose()
    }

    /// The org units of the accounts that exist.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "org_units_of"))]
    pub async fn org_units_of(
        &self,
        accounts: &[&AccountNumber],
    ) -> Result<Vec<(AccountNumber, OrgUnitCode)>, StorageError> {
        let accounts: Vec<&str> = accounts.iter().map(|account| account.as_str()).collect();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT account_number, org_unit_code FROM customers WHERE account_number = ANY($1)",
        )
        .bind(&accounts)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(account, unit)| {
                Ok((
                    parse_column("account_number", &account, AccountNumber::parse)?,
                    parse_column("org_unit_code", &unit, OrgUnitCode::parse)?,
                ))
            })
            .collect()
    }

    /// The register: loans in `scope` matching `filter` (states as of `now`), newest request
    /// first, after a cursor.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "list_loans"))]
    pub async fn list_loans(
        &self,
        scope: &LoanScope,
        filter: &LoanFilter,
        now: DateTime<Utc>,
        after: Option<&LoanCursor>,
        limit: usize,
    ) -> Result<Vec<Loan>, StorageError> {
        let (own, unit, account_scope) = match scope {
            LoanScope::Borrower(borrower) => (Some(borrower.as_str()), None, None),
            LoanScope::Reach(Reach::All) => (None, None, None),
            LoanScope::Reach(Reach::OrgUnit(unit)) => (None, Some(unit.as_str()), None),
            LoanScope::Reach(Reach::Account(account)) => (None, None, Some(account.as_str())),
        };
        let (record, time_clause) = match filter.state.map(state_condition) {
            Some((record, clause)) => (Some(encode(record)), clause),
            None => (None, "true"),
        };
        let rows: Vec<LoanRow> = sqlx::query_as(
            "SELECT l.* FROM loans l
             WHERE ($1::text IS NULL OR l.borrower = $1)
               -- A custodian's register: every account of the loan within their unit.
               AND ($2::text IS NULL OR NOT EXISTS (
                   SELECT 1 FROM loan_items i
                   LEFT JOIN customers c ON c.account_number = i.account_number
                   WHERE i.loan_id = l.loan_id
                     AND (c.org_unit_code IS NULL OR NOT starts_with(c.org_unit_code, $2))))
               AND ($3::text IS NULL OR NOT EXISTS (
                   SELECT 1 FROM loan_items i
                   WHERE i.loan_id = l.loan_id AND i.account_number <> $3))
               AND ($4::text IS NULL OR l.borrower = $4)
               AND ($5::text IS NULL OR EXISTS (
                   SELECT 1 FROM loan_items i
                   WHERE i.loan_id = l.loan_id AND i.account_number = $5))
               AND ($6::text IS NULL OR EXISTS (
                   SELECT 1 FROM loan_items i
                   JOIN customers c ON c.account_number = i.account_number
                   WHERE i.loan_id = l.loan_id AND starts_with(c.org_unit_code, $6)))
               AND ($7::text IS NULL OR (l.state = $7 AND CASE $8
                   WHEN 'approved_later' THEN $9 < l.start_time
                   WHEN 'active' THEN l.start_time <= $9 AND $9 < l.due_time
                   WHEN 'expired' THEN l.due_time <= $9
                   ELSE true END))
               AND ($10::timestamptz IS NULL OR l.due_time > $10)
               AND ($11::timestamptz IS NULL OR l.start_time < $11)
               AND ($12::timestamptz IS NULL OR (l.request_time, l.loan_id) < ($12, $13))
             ORDER BY l.request_time DESC, l.loan_id DESC
             LIMIT $14",
        )
        .bind(own)
        .bind(unit)
        .bind(account_scope)
        .bind(filter.borrower.as_deref())
        .bind(filter.account.as_ref().map(AccountNumber::as_str))
        .bind(filter.org_unit.as_ref().map(OrgUnitCode::as_str))
        .bind(record)
        .bind(time_clause)
        .bind(now)
        .bind(filter.period_start)
        .bind(filter.period_end)
        .bind(after.map(|cursor| cursor.request_time))
        .bind(after.map(|cursor| cursor.id))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.loan_id).collect();
        let mut items: HashMap<Uuid, Vec<ItemRow>> = HashMap::new();
        for item in self.loan_items(&ids).await? {
            items.entry(item.loan_id).or_default().push(item);
        }
        rows.into_iter()
            .map(|row| {
                let items = items.remove(&row.loan_id).unwrap_or_default();
                row.into_loan(&items)
            })
            .collect()
    }

    /// The live documents a loan lends (its lent documents and the documents of its lent
    /// archives), newest first, after a cursor.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "loan_documents"))]
    pub async fn loan_documents(
        &self,
        loan_id: Uuid,
        after: Option<&DocumentCursor>,
        limit: usize,
    ) -> Result<Vec<Document>, StorageError> {
        let rows: Vec<DocumentPagesRow> = sqlx::query_as(select_documents!(
            "WHERE d.destroyed_at IS NULL
               AND (d.document_id IN (SELECT document_id FROM loan_items
                                      WHERE loan_id = $1 AND lent AND document_id IS NOT NULL
                                        AND account_number = d.account_number)
                    OR d.account_number IN (SELECT account_number FROM loan_items
                                            WHERE loan_id = $1 AND lent AND document_id IS NULL))
               AND ($2::timestamptz IS NULL OR (d.filed_at, d.document_id) < ($2, $3))
             ORDER BY d.filed_at DESC, d.document_id DESC
             LIMIT $4"
        ))
        .bind(loan_id)
        .bind(after.map(|cursor| cursor.filed_at))
        .bind(after.map(|cursor| cursor.id))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| row.into_owned_document().map(|(document, _)| document))
            .collect()
    }

    /// The audit events of reads `person` made under `loan`, newest first, below a sequence
    /// number: the person index finds the borrower's events, the details name the loan.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "loan_reads"))]
    pub async fn loan_reads(
        &self,
        person: &str,
        loan: LoanName,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ChainedEvent>, StorageError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT * FROM audit_events
             WHERE person = $1 AND details = $2
               AND ($3::bigint IS NULL OR seq < $3)
             ORDER BY seq DESC
             LIMIT $4",
        )
        .bind(person)
        .bind(Lent::details_of(loan).to_string())
        .bind(before_seq)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ChainedEvent::try_from).collect()
    }
}

/// Marks the items an approval lends, with their pages.
async fn mark_lent(tx: &mut Transaction<'_, Postgres>, loan: &Loan) -> Result<(), StorageError> {
    for item in &loan.lent {
        sqlx::query(
            "UPDATE loan_items SET lent = true, lent_pages = $4
             WHERE loan_id = $1 AND account_number = $2
               AND document_id IS NOT DISTINCT FROM $3",
        )
        .bind(loan.id)
        .bind(item.target.account().as_str())
        .bind(item.target.document_id())
        .bind(pages_column(&item.pages))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
