//! Queries of retention: the facts a document's retention follows from, legal holds, and the
//! appraisal listing of expired documents.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Database;
use super::codec::{decode, parse_column};
use crate::domain::{
    AccountNumber, AuditEvent, DocumentName, DocumentTypeCode, ExpiredDocument, ExpiryCursor,
    HoldRelease, HoldTarget, LegalHold, LegalHoldName, OrgUnitCode, Reason, RetentionFacts,
    RetentionRule, Title, Visibility,
};
use crate::storage::StorageError;

/// The expiry of a document as SQL, over `d` (documents), `t` (document_types) and `c`
/// (customers). Mirrors `RetentionRule::expire_time` (calendar years in UTC);
/// tests/api/retention.rs checks that both agree at the boundary.
macro_rules! expire_time_sql {
    () => {
        "(CASE WHEN t.retention_class = 'permanent' THEN NULL
               ELSE ((CASE t.retention_trigger WHEN 'filing' THEN d.original_at ELSE coalesce(d.account_closed_at, c.closed_at) END)
                     AT TIME ZONE 'UTC'
                     + CASE t.retention_class WHEN '30_years' THEN interval '30 years'
                                              ELSE interval '10 years' END)
                    AT TIME ZONE 'UTC' END)"
    };
}

/// Holds in force on a document (`d`) or its whole account.
macro_rules! active_hold_sql {
    () => {
        "EXISTS (SELECT 1 FROM legal_holds h
                 WHERE h.account_number = d.account_number
                   AND (h.document_id IS NULL OR h.document_id = d.document_id)
                   AND h.release_time IS NULL)"
    };
}
pub(super) use active_hold_sql;

pub(super) fn rule(class: &str, trigger: &str) -> Result<RetentionRule, StorageError> {
    Ok(RetentionRule {
        class: decode("retention_class", class)?,
        trigger: decode("retention_trigger", trigger)?,
    })
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    retention_class: String,
    retention_trigger: String,
    original_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    destruction_list_id: Option<Uuid>,
    holds: Vec<Uuid>,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    hold_id: Uuid,
    account_number: String,
    document_id: Option<Uuid>,
    reason: String,
    placed_by: String,
    place_time: DateTime<Utc>,
    released_by: Option<String>,
    release_reason: Option<String>,
    release_time: Option<DateTime<Utc>>,
}

impl TryFrom<HoldRow> for LegalHold {
    type Error = StorageError;

    fn try_from(row: HoldRow) -> Result<Self, StorageError> {
        let account = parse_column("account_number", &row.account_number, AccountNumber::parse)?;
        let release = match (row.released_by, row.release_reason, row.release_time) {
            (Some(released_by), Some(reason), Some(time)) => Some(HoldRelease {
                released_by,
                reason: parse_column("release_reason", &reason, Reason::parse)?,
                time,
            }),
            _ => None,
        };
        Ok(LegalHold {
            name: LegalHoldName {
                account: account.clone(),
                hold_id: row.hold_id,
            },
            target: match row.document_id {
                None => HoldTarget::Account(account),
                Some(document_id) => HoldTarget::Document(DocumentName {
                    account,
                    document_id,
                }),
            },
            reason: parse_column("reason", &row.reason, Reason::parse)?,
            placed_by: row.placed_by,
            place_time: row.place_time,
            release,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ExpiredRow {
    document_id: Uuid,
    account_number: String,
    document_type: String,
    title: String,
    retention_class: String,
    retention_trigger: String,
    original_at: DateTime<Utc>,
    expire_time: DateTime<Utc>,
    page_count: i32,
}

impl TryFrom<ExpiredRow> for ExpiredDocument {
    type Error = StorageError;

    fn try_from(row: ExpiredRow) -> Result<Self, StorageError> {
        Ok(ExpiredDocument {
            name: DocumentName {
                account: parse_column("account_number", &row.account_number, AccountNumber::parse)?,
                document_id: row.document_id,
            },
            document_type: parse_column(
                "document_type",
                &row.document_type,
                DocumentTypeCode::parse,
            )?,
            title: parse_column("title", &row.title, Title::parse)?,
            rule: rule(&row.retention_class, &row.retention_trigger)?,
            original_at: row.original_at,
            expire_time: row.expire_time,
            page_count: u32::try_from(row.page_count)
                .map_err(|error| StorageError::Unexpected(error.into()))?,
        })
    }
}

const HOLD_COLUMNS: &str = "hold_id, account_number, document_id, reason, placed_by, place_time,
     released_by, release_reason, release_time";

impl Database {
    /// What a document's retention follows from; `None` for an unknown document.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "retention_facts"))]
    pub async fn retention_facts(
        &self,
        name: &DocumentName,
    ) -> Result<Option<RetentionFacts>, StorageError> {
        let row: Option<FactsRow> = sqlx::query_as(
            "SELECT t.retention_class, t.retention_trigger, d.original_at,
                    coalesce(d.account_closed_at, c.closed_at) AS closed_at,
                    d.destruction_list_id,
                    ARRAY(SELECT h.hold_id FROM legal_holds h
                          WHERE h.account_number = d.account_number
                            AND (h.document_id IS NULL OR h.document_id = d.document_id)
                            AND h.release_time IS NULL
                          ORDER BY h.hold_id) AS holds
             FROM documents d
             JOIN document_versions v
               ON v.document_id = d.document_id AND v.version = d.current_version
             JOIN document_types t ON t.code = v.document_type
             JOIN customers c ON c.account_number = d.account_number
             WHERE d.document_id = $1 AND d.account_number = $2",
        )
        .bind(name.document_id)
        .bind(name.account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RetentionFacts {
                rule: rule(&row.retention_class, &row.retention_trigger)?,
                original_at: row.original_at,
                account_closed_at: row.closed_at,
                destruction_list: row.destruction_list_id,
                holds: row.holds,
            })
        })
        .transpose()
    }

    /// Records a new hold with its audit event.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_legal_hold"))]
    pub async fn insert_legal_hold(
        &self,
        hold: &LegalHold,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        // Shares the account's row lock with an approval that takes it exclusively: a hold is
        // either in force before a disposal checks, or placed after it finished.
        sqlx::query("SELECT 1 FROM customers WHERE account_number = $1 FOR SHARE")
            .bind(hold.name.account.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO legal_holds (hold_id, account_number, document_id, reason, placed_by,
                 place_time)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hold.name.hold_id)
        .bind(hold.name.account.as_str())
        .bind(hold.target.document_id())
        .bind(hold.reason.as_str())
        .bind(&hold.placed_by)
        .bind(hold.place_time)
        .execute(&mut *tx)
        .await?;
        self.commit_with_event(tx, event).await
    }

    /// Releases a hold in force; `None` when there is none by that name in force.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "release_legal_hold"))]
    pub async fn release_legal_hold(
        &self,
        name: &LegalHoldName,
        release: &HoldRelease,
        event: &AuditEvent,
    ) -> Result<Option<LegalHold>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<HoldRow> = sqlx::query_as(&format!(
            "UPDATE legal_holds SET released_by = $3, release_reason = $4, release_time = $5
             WHERE hold_id = $1 AND account_number = $2 AND release_time IS NULL
             RETURNING {HOLD_COLUMNS}"
        ))
        .bind(name.hold_id)
        .bind(name.account.as_str())
        .bind(&release.released_by)
        .bind(release.reason.as_str())
        .bind(release.time)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        self.commit_with_event(tx, event).await?;
        LegalHold::try_from(row).map(Some)
    }

    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "legal_hold"))]
    pub async fn legal_hold(
        &self,
        name: &LegalHoldName,
    ) -> Result<Option<LegalHold>, StorageError> {
        let row: Option<HoldRow> = sqlx::query_as(&format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds WHERE hold_id = $1 AND account_number = $2"
        ))
        .bind(name.hold_id)
        .bind(name.account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(LegalHold::try_from).transpose()
    }

    /// An account's holds, newest first.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "legal_holds"))]
    pub async fn legal_holds(
        &self,
        account: &AccountNumber,
        show_released: bool,
    ) -> Result<Vec<LegalHold>, StorageError> {
        let rows: Vec<HoldRow> = sqlx::query_as(&format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds
             WHERE account_number = $1 AND ($2 OR release_time IS NULL)
             ORDER BY place_time DESC, hold_id DESC"
        ))
        .bind(account.as_str())
        .bind(show_released)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(LegalHold::try_from).collect()
    }

    /// Live documents of an org unit's subtree whose retention ended by `now`, that no hold
    /// keeps and no open list holds, soonest expired first, after a cursor.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "expired_documents"))]
    pub async fn expired_documents(
        &self,
        unit: &OrgUnitCode,
        document_type: Option<&DocumentTypeCode>,
        visibility: &Visibility,
        now: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredDocument>, StorageError> {
        let rows: Vec<ExpiredRow> = sqlx::query_as(concat!(
            "SELECT * FROM (
                 SELECT d.document_id, d.account_number, v.document_type, v.title,
                        t.retention_class, t.retention_trigger, d.original_at,
                        (SELECT count(*)::int FROM pages p
                         WHERE p.document_id = d.document_id AND p.version = d.current_version)
                            AS page_count,
                        ",
            expire_time_sql!(),
            " AS expire_time
                 FROM customers c
                 JOIN documents d ON d.account_number = c.account_number
                 JOIN document_versions v
                   ON v.document_id = d.document_id AND v.version = d.current_version
                 JOIN document_types t ON t.code = v.document_type
                 WHERE c.org_unit_code LIKE $1 || '%'
                   AND d.destroyed_at IS NULL
                   AND ($2::text IS NULL OR v.document_type = $2)
                   AND t.confidentiality <= $3
                   AND ($4::text[] IS NULL OR v.document_type = ANY($4))
                   AND NOT ",
            active_hold_sql!(),
            "
                   AND NOT EXISTS (SELECT 1 FROM destruction_list_items i
                                   JOIN destruction_lists l ON l.list_id = i.list_id
                                   WHERE i.document_id = d.document_id AND l.state = 'proposed')
             ) expired
             WHERE expire_time <= $5
               AND ($6::timestamptz IS NULL OR (expire_time, document_id) > ($6, $7))
             ORDER BY expire_time, document_id
             LIMIT $8"
        ))
        .bind(unit.as_str())
        .bind(document_type.map(DocumentTypeCode::as_str))
        .bind(visibility.clearance.level())
        .bind(visibility.types.as_deref())
        .bind(now)
        .bind(after.map(|cursor| cursor.expire_time))
        .bind(after.map(|cursor| cursor.document_id))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ExpiredDocument::try_from).collect()
    }
}
