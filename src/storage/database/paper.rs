//! Queries of `paper_locations`, `paper_sign_outs` and `paper_losses`: the custody of paper
//! originals. The open sign-out of a paper is unique by index, so two custodians signing the
//! same paper out at once cannot both succeed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{decode, encode, parse_column};
use crate::domain::{
    AccountNumber, AuditEvent, DocumentName, HolderContact, HolderName, LoanName, LoanNote,
    OrgUnitCode, Paper, PaperCondition, PaperHolder, PaperLocation, PaperLoss, PaperPlace,
    PlaceName, PlaceNumber, SignIn, SignOut, SignOutQuery, StocktakePlace,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct LocationRow {
    document_id: Uuid,
    account_number: String,
    revision: i32,
    room: Option<String>,
    shelf: Option<String>,
    box_number: Option<String>,
    item: Option<String>,
    set_by: String,
    set_time: DateTime<Utc>,
    reason: String,
}

impl LocationRow {
    fn document(&self) -> Result<DocumentName, StorageError> {
        Ok(DocumentName {
            account: parse_column("account_number", &self.account_number, AccountNumber::parse)?,
            document_id: self.document_id,
        })
    }

    fn into_location(self) -> Result<PaperLocation, StorageError> {
        let place = match (&self.room, &self.shelf) {
            (Some(room), Some(shelf)) => Some(PaperPlace {
                room: parse_column("room", room, PlaceName::parse)?,
                shelf: parse_column("shelf", shelf, PlaceName::parse)?,
                box_number: self
                    .box_number
                    .as_deref()
                    .map(|text| parse_column("box", text, PlaceNumber::parse))
                    .transpose()?,
                item: self
                    .item
                    .as_deref()
                    .map(|text| parse_column("item", text, PlaceNumber::parse))
                    .transpose()?,
            }),
            _ => None,
        };
        Ok(PaperLocation {
            document: self.document()?,
            revision: self.revision as u32,
            place,
            set_by: self.set_by,
            set_time: self.set_time,
            reason: parse_column("reason", &self.reason, LoanNote::parse)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SignOutRow {
    sign_out_id: Uuid,
    document_id: Uuid,
    account_number: String,
    holder_name: String,
    holder_org_unit: Option<String>,
    holder_contact: Option<String>,
    due_time: DateTime<Utc>,
    loan_id: Option<Uuid>,
    signed_out_by: String,
    sign_out_time: DateTime<Utc>,
    signed_in_by: Option<String>,
    sign_in_time: Option<DateTime<Utc>>,
    condition: Option<String>,
    sign_in_note: Option<String>,
}

impl SignOutRow {
    fn into_sign_out(self) -> Result<SignOut, StorageError> {
        let sign_in = match (self.signed_in_by, self.sign_in_time, self.condition) {
            (Some(by), Some(time), Some(condition)) => Some(SignIn {
                by,
                time,
                condition: decode("condition", &condition)?,
                note: self
                    .sign_in_note
                    .as_deref()
                    .map(|text| parse_column("sign_in_note", text, LoanNote::parse))
                    .transpose()?,
            }),
            _ => None,
        };
        Ok(SignOut {
            id: self.sign_out_id,
            document: DocumentName {
                account: parse_column(
                    "account_number",
                    &self.account_number,
                    AccountNumber::parse,
                )?,
                document_id: self.document_id,
            },
            holder: PaperHolder {
                name: parse_column("holder_name", &self.holder_name, HolderName::parse)?,
                org_unit: self
                    .holder_org_unit
                    .as_deref()
                    .map(|text| parse_column("holder_org_unit", text, OrgUnitCode::parse))
                    .transpose()?,
                contact: self
                    .holder_contact
                    .as_deref()
                    .map(|text| parse_column("holder_contact", text, HolderContact::parse))
                    .transpose()?,
            },
            due: self.due_time,
            loan: self.loan_id.map(LoanName),
            by: self.signed_out_by,
            time: self.sign_out_time,
            sign_in,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LossRow {
    document_id: Uuid,
    reported_by: String,
    report_time: DateTime<Utc>,
    note: String,
}

impl LossRow {
    fn into_loss(self) -> Result<PaperLoss, StorageError> {
        Ok(PaperLoss {
            by: self.reported_by,
            time: self.report_time,
            note: parse_column("note", &self.note, LoanNote::parse)?,
        })
    }
}

/// Everything recorded of one paper: its location revisions, its sign-outs and its loss.
pub type PaperRecords = (Vec<PaperLocation>, Vec<SignOut>, Option<PaperLoss>);

const LOCATION_COLUMNS: &str = "l.document_id, d.account_number, l.revision, l.room, l.shelf,
     l.box AS box_number, l.item, l.set_by, l.set_time, l.reason";

const SIGN_OUT_COLUMNS: &str = "s.sign_out_id, s.document_id, d.account_number, s.holder_name,
     s.holder_org_unit, s.holder_contact, s.due_time, s.loan_id, s.signed_out_by,
     s.sign_out_time, s.signed_in_by, s.sign_in_time, s.condition, s.sign_in_note";

impl Database {
    /// Records a new revision of a paper's location (the next number) with its audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "set_paper_location"))]
    pub async fn set_paper_location(
        &self,
        location: &PaperLocation,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        // Serialises concurrent corrections of one paper on its current row.
        let current: Option<i32> = sqlx::query_scalar(
            "UPDATE paper_locations SET current = false
             WHERE document_id = $1 AND current RETURNING revision",
        )
        .bind(location.document.document_id)
        .fetch_optional(&mut *tx)
        .await?;
        let place = location.place.as_ref();
        sqlx::query(
            "INSERT INTO paper_locations (document_id, revision, exists_on_paper, room, shelf,
                 box, item, set_by, set_time, reason, current)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)",
        )
        .bind(location.document.document_id)
        .bind(current.unwrap_or(0) + 1)
        .bind(place.is_some())
        .bind(place.map(|p| p.room.as_str()))
        .bind(place.map(|p| p.shelf.as_str()))
        .bind(place.and_then(|p| p.box_number.as_ref().map(PlaceNumber::as_str)))
        .bind(place.and_then(|p| p.item.as_ref().map(PlaceNumber::as_str)))
        .bind(&location.set_by)
        .bind(location.set_time)
        .bind(location.reason.as_str())
        .execute(&mut *tx)
        .await?;
        self.commit_with_event(tx, event).await
    }

    /// The papers of these documents with their owners' org units (documents without a
    /// recorded location are left out).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "papers_of"))]
    pub async fn papers_of(
        &self,
        document_ids: &[Uuid],
    ) -> Result<Vec<(Paper, OrgUnitCode)>, StorageError> {
        let rows: Vec<LocationRow> = sqlx::query_as(&format!(
            "SELECT {LOCATION_COLUMNS} FROM paper_locations l
             JOIN documents d ON d.document_id = l.document_id
             WHERE l.current AND l.document_id = ANY($1)"
        ))
        .bind(document_ids)
        .fetch_all(&self.pool)
        .await?;
        self.papers(rows).await
    }

    /// The papers recorded at a shelf (or one box of it), with their owners' org units.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "papers_at"))]
    pub async fn papers_at(
        &self,
        place: &StocktakePlace,
    ) -> Result<Vec<(Paper, OrgUnitCode)>, StorageError> {
        let rows: Vec<LocationRow> = sqlx::query_as(&format!(
            "SELECT {LOCATION_COLUMNS} FROM paper_locations l
             JOIN documents d ON d.document_id = l.document_id
             WHERE l.current AND l.room = $1 AND l.shelf = $2 AND ($3::text IS NULL OR l.box = $3)"
        ))
        .bind(place.room.as_str())
        .bind(place.shelf.as_str())
        .bind(place.box_number.as_ref().map(PlaceNumber::as_str))
        .fetch_all(&self.pool)
        .await?;
        self.papers(rows).await
    }

    /// Completes current locations with their open sign-outs, losses and org units.
    async fn papers(
        &self,
        rows: Vec<LocationRow>,
    ) -> Result<Vec<(Paper, OrgUnitCode)>, StorageError> {
        let ids: Vec<Uuid> = rows.iter().map(|row| row.document_id).collect();
        let sign_outs: Vec<SignOutRow> = sqlx::query_as(&format!(
            "SELECT {SIGN_OUT_COLUMNS} FROM paper_sign_outs s
             JOIN documents d ON d.document_id = s.document_id
             WHERE s.document_id = ANY($1) AND s.sign_in_time IS NULL"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let losses: Vec<LossRow> =
            sqlx::query_as("SELECT * FROM paper_losses WHERE document_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        let units: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT d.document_id, c.org_unit_code FROM documents d
             JOIN customers c ON c.account_number = d.account_number
             WHERE d.document_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut sign_outs: std::collections::HashMap<Uuid, SignOut> = sign_outs
            .into_iter()
            .map(|row| Ok((row.document_id, row.into_sign_out()?)))
            .collect::<Result<_, StorageError>>()?;
        let mut losses: std::collections::HashMap<Uuid, PaperLoss> = losses
            .into_iter()
            .map(|row| Ok((row.document_id, row.into_loss()?)))
            .collect::<Result<_, StorageError>>()?;
        let units: std::collections::HashMap<Uuid, String> = units.into_iter().collect();
        rows.into_iter()
            .map(|row| {
                let id = row.document_id;
                let unit = units.get(&id).ok_or_else(|| {
                    StorageError::Unexpected(anyhow::anyhow!("document {id} has no customer"))
                })?;
                Ok((
                    Paper {
                        location: row.into_location()?,
                        sign_out: sign_outs.remove(&id),
                        loss: losses.remove(&id),
                    },
                    parse_column("org_unit_code", unit, OrgUnitCode::parse)?,
                ))
            })
            .collect()
    }

    /// Records a sign-out; `false` when the paper is out already (nothing is written then).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_sign_out"))]
    pub async fn insert_sign_out(
        &self,
        sign_out: &SignOut,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO paper_sign_outs (sign_out_id, document_id, holder_name, holder_org_unit,
                 holder_contact, due_time, loan_id, signed_out_by, sign_out_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (document_id) WHERE sign_in_time IS NULL DO NOTHING",
        )
        .bind(sign_out.id)
        .bind(sign_out.document.document_id)
        .bind(sign_out.holder.name.as_str())
        .bind(sign_out.holder.org_unit.as_ref().map(OrgUnitCode::as_str))
        .bind(sign_out.holder.contact.as_ref().map(HolderContact::as_str))
        .bind(sign_out.due)
        .bind(sign_out.loan.map(|loan| loan.0))
        .bind(&sign_out.by)
        .bind(sign_out.time)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// Closes the open sign-out of a paper; `false` when it is not out.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "close_sign_out"))]
    pub async fn close_sign_out(
        &self,
        document: &DocumentName,
        sign_in: &SignIn,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let closed = close_open_sign_out(&mut tx, document.document_id, sign_in).await?;
        if !closed {
            return Ok(false);
        }
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// Records a loss, closing an open sign-out as lost; `false` when it was lost already.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_loss"))]
    pub async fn insert_loss(
        &self,
        document: &DocumentName,
        loss: &PaperLoss,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO paper_losses (document_id, reported_by, report_time, note)
             VALUES ($1, $2, $3, $4) ON CONFLICT (document_id) DO NOTHING",
        )
        .bind(document.document_id)
        .bind(&loss.by)
        .bind(loss.time)
        .bind(loss.note.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        let lost = SignIn {
            by: loss.by.clone(),
            time: loss.time,
            condition: PaperCondition::Lost,
            note: Some(loss.note.clone()),
        };
        close_open_sign_out(&mut tx, document.document_id, &lost).await?;
        self.commit_with_event(tx, event).await?;
        Ok(true)
    }

    /// Every location revision, sign-out and loss of one paper.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "paper_history"))]
    pub async fn paper_history(
        &self,
        document: &DocumentName,
    ) -> Result<PaperRecords, StorageError> {
        let locations: Vec<LocationRow> = sqlx::query_as(&format!(
            "SELECT {LOCATION_COLUMNS} FROM paper_locations l
             JOIN documents d ON d.document_id = l.document_id
             WHERE l.document_id = $1 ORDER BY l.revision"
        ))
        .bind(document.document_id)
        .fetch_all(&self.pool)
        .await?;
        let sign_outs: Vec<SignOutRow> = sqlx::query_as(&format!(
            "SELECT {SIGN_OUT_COLUMNS} FROM paper_sign_outs s
             JOIN documents d ON d.document_id = s.document_id
             WHERE s.document_id = $1 ORDER BY s.sign_out_time"
        ))
        .bind(document.document_id)
        .fetch_all(&self.pool)
        .await?;
        let loss: Option<LossRow> =
            sqlx::query_as("SELECT * FROM paper_losses WHERE document_id = $1")
                .bind(document.document_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok((
            locations
                .into_iter()
                .map(LocationRow::into_location)
                .collect::<Result<_, _>>()?,
            sign_outs
                .into_iter()
                .map(SignOutRow::into_sign_out)
                .collect::<Result<_, _>>()?,
            loss.map(LossRow::into_loss).transpose()?,
        ))
    }

    /// Sign-outs as `query` asks (states as of `now`), with their owners' org units: the most
    /// overdue first for the papers out, the latest first for the register.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "sign_outs"))]
    pub async fn sign_outs(
        &self,
        query: &SignOutQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<(SignOut, OrgUnitCode)>, StorageError> {
        let sql = format!(
            "SELECT {SIGN_OUT_COLUMNS}, c.org_unit_code FROM paper_sign_outs s
             JOIN documents d ON d.document_id = s.document_id
             JOIN customers c ON c.account_number = d.account_number
             WHERE ($1 OR s.sign_in_time IS NULL)
               AND (NOT $2 OR (s.sign_in_time IS NULL AND s.due_time <= $3))
               AND ($4::timestamptz IS NULL OR s.sign_out_time >= $4)
               AND ($5::timestamptz IS NULL OR s.sign_out_time < $5)
             ORDER BY CASE WHEN $1 THEN NULL ELSE s.due_time END, s.sign_out_time DESC
             LIMIT $6"
        );
        let rows: Vec<SignOutWithUnit> = sqlx::query_as(&sql)
            .bind(query.include_returned)
            .bind(query.overdue_only)
            .bind(now)
            .bind(query.after)
            .bind(query.before)
            .bind(query.limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let unit = parse_column("org_unit_code", &row.org_unit_code, OrgUnitCode::parse)?;
                Ok((row.sign_out.into_sign_out()?, unit))
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct SignOutWithUnit {
    #[sqlx(flatten)]
    sign_out: SignOutRow,
    org_unit_code: String,
}

/// Closes the open sign-out of a document inside `tx`; whether there was one.
async fn close_open_sign_out(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    document_id: Uuid,
    sign_in: &SignIn,
) -> Result<bool, StorageError> {
    let closed = sqlx::query(
        "UPDATE paper_sign_outs SET signed_in_by = $2, sign_in_time = $3, condition = $4,
             sign_in_note = $5
         WHERE document_id = $1 AND sign_in_time IS NULL",
    )
    .bind(document_id)
    .bind(&sign_in.by)
    .bind(sign_in.time)
    .bind(encode(sign_in.condition))
    .bind(sign_in.note.as_ref().map(LoanNote::as_str))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(closed > 0)
}

/// Records a paper's first location inside the filing's transaction.
pub(super) async fn insert_first_location(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    document_id: Uuid,
    place: &PaperPlace,
    set_by: &str,
    set_time: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO paper_locations (document_id, revision, exists_on_paper, room, shelf, box,
             item, set_by, set_time, reason, current)
         VALUES ($1, 1, true, $2, $3, $4, $5, $6, $7, 'filed', true)",
    )
    .bind(document_id)
    .bind(place.room.as_str())
    .bind(place.shelf.as_str())
    .bind(place.box_number.as_ref().map(PlaceNumber::as_str))
    .bind(place.item.as_ref().map(PlaceNumber::as_str))
    .bind(set_by)
    .bind(set_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
