//! Queries of `audit_events`: appending to the single hash chain, listing, reading in order.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::Database;
use super::codec::parse_column;
use crate::domain::{AccountNumber, AuditEvent, AuditFilter, ChainedEvent, Resource};
use crate::storage::StorageError;

/// Serialises appends across every server replica, so they extend one chain without gaps.
const CHAIN_LOCK: i64 = 0x6375_7374_6f64_6961;

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    occurred_at: DateTime<Utc>,
    system: String,
    person: String,
    role: String,
    action: String,
    resource: String,
    account: Option<String>,
    document_id: Option<Uuid>,
    outcome: String,
    request_id: String,
    details: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl TryFrom<AuditRow> for ChainedEvent {
    type Error = StorageError;

    fn try_from(row: AuditRow) -> Result<Self, StorageError> {
        let digest = |bytes: Vec<u8>| -> Result<[u8; 32], StorageError> {
            bytes.try_into().map_err(|_| {
                StorageError::Unexpected(anyhow::anyhow!(
                    "audit event {} has a malformed hash",
                    row.seq
                ))
            })
        };
        Ok(ChainedEvent {
            seq: row.seq,
            event: AuditEvent {
                occurred_at: row.occurred_at,
                system: row.system,
                person: row.person,
                role: row.role,
                action: row.action,
                resource: Resource {
                    name: row.resource,
                    account: row
                        .account
                        .as_deref()
                        .map(|a| parse_column("account", a, AccountNumber::parse))
                        .transpose()?,
                    document_id: row.document_id,
                },
                outcome: row.outcome,
                request_id: row.request_id,
                details: row.details,
            },
            prev_hash: digest(row.prev_hash)?,
            hash: digest(row.hash)?,
        })
    }
}

impl Database {
    /// Appends events in their own transaction.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "append_audit"))]
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        // A transaction of events alone: it has no deferred work to run before the chain lock.
        self.append_to_chain(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a change's event in its transaction and commits both.
    pub(super) async fn commit_with_event(
        &self,
        mut tx: Transaction<'_, Postgres>,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.append_audit_in(&mut tx, std::slice::from_ref(event))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends events inside `tx`, so they commit or vanish with the change they record.
    pub(super) async fn append_audit_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[AuditEvent],
    ) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        // The change's deferred triggers (its archive index row and statistics) run first, so
        // that every audited change takes the chain lock last: one holding it then never waits
        // for a row lock that another holds while waiting for the chain (a correction and a
        // move of its account deadlocked so), and that work is not serialised by the chain.
        sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(&mut **tx)
            .await?;
        self.append_to_chain(tx, events).await
    }

    /// Takes the chain lock and appends `events` after the chain's head, inside `tx`.
    async fn append_to_chain(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[AuditEvent],
    ) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        let connection: &mut PgConnection = tx;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_LOCK)
            .execute(&mut *connection)
            .await?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *connection)
                .await?;
        let (mut seq, mut prev) = match head {
            Some((seq, hash)) => (
                seq,
                hash.try_into().map_err(|_| {
                    StorageError::Unexpected(anyhow::anyhow!(
                        "the audit chain head has a malformed hash"
                    ))
                })?,
            ),
            None => (0, crate::domain::GENESIS),
        };
        let mut rows = AuditColumns::default();
        for event in events {
            // Whoever built the event, the row gets what the trail's limits allow (the domain's
            // rule, idempotent: events from the queue are bounded already).
            let event = event.clone().bounded();
            seq += 1;
            let hash = self.chain_key.hash(&prev, seq, &event);
            rows.push(seq, event, prev, hash);
            prev = hash;
        }
        sqlx::query(
            "INSERT INTO audit_events (seq, occurred_at, system, person, role, action, resource,
                                       account, document_id, outcome, request_id, details,
                                       prev_hash, hash)
             SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                                  $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[],
                                  $10::text[], $11::text[], $12::text[], $13::bytea[], $14::bytea[])",
        )
        .bind(rows.seq)
        .bind(rows.occurred_at)
        .bind(rows.system)
        .bind(rows.person)
        .bind(rows.role)
        .bind(rows.action)
        .bind(rows.resource)
        .bind(rows.account)
        .bind(rows.document_id)
        .bind(rows.outcome)
        .bind(rows.request_id)
        .bind(rows.details)
        .bind(rows.prev_hash)
        .bind(rows.hash)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }

    /// The chain's head: the newest event's sequence number and hash.
    pub async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>, StorageError> {
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        head.map(|(seq, hash)| Ok((seq, digest(seq, hash)?)))
            .transpose()
    }

    /// The hash of event `seq`, if there is one.
    pub async fn audit_hash_at(&self, seq: i64) -> Result<Option<[u8; 32]>, StorageError> {
        let hash: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        hash.map(|hash| digest(seq, hash)).transpose()
    }

    /// Events matching `query`, newest first, before sequence `before_seq`.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "list_audit_events"))]
    pub async fn list_audit_events(
        &self,
        query: &AuditFilter,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ChainedEvent>, StorageError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT * FROM audit_events
             WHERE ($1::text IS NULL OR account = $1)
               AND ($2::uuid IS NULL OR document_id = $2)
               AND ($3::text IS NULL OR person = $3)
               AND ($4::text IS NULL OR action = $4)
               AND ($5::timestamptz IS NULL OR occurred_at >= $5)
               AND ($6::timestamptz IS NULL OR occurred_at < $6)
               AND ($7::bigint IS NULL OR seq < $7)
             ORDER BY seq DESC
             LIMIT $8",
        )
        .bind(query.account.as_ref().map(AccountNumber::as_str))
        .bind(query.document_id)
        .bind(query.person.as_deref())
        .bind(query.action.as_deref())
        .bind(query.after)
        .bind(query.before)
        .bind(before_seq)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ChainedEvent::try_from).collect()
    }

    /// Events in chain order, after `after_seq`, for verification.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "audit_events_in_order"))]
    pub async fn audit_events_in_order(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<ChainedEvent>, StorageError> {
        let rows: Vec<AuditRow> =
            sqlx::query_as("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after_seq)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(ChainedEvent::try_from).collect()
    }
}

fn digest(seq: i64, bytes: Vec<u8>) -> Result<[u8; 32], StorageError> {
    bytes.try_into().map_err(|_| {
        StorageError::Unexpected(anyhow::anyhow!("audit event {seq} has a malformed hash"))
    })
}

/// The events' columns, as arrays for one UNNEST insert.
#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    occurred_at: Vec<DateTime<Utc>>,
    system: Vec<String>,
    person: Vec<String>,
    role: Vec<String>,
    action: Vec<String>,
    resource: Vec<String>,
    account: Vec<Option<String>>,
    document_id: Vec<Option<Uuid>>,
    outcome: Vec<String>,
    request_id: Vec<String>,
    details: Vec<Option<String>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl AuditColumns {
    fn push(&mut self, seq: i64, event: AuditEvent, prev_hash: [u8; 32], hash: [u8; 32]) {
        self.seq.push(seq);
        self.occurred_at.push(event.occurred_at);
        self.system.push(event.system);
        self.person.push(event.person);
        self.role.push(event.role);
        self.action.push(event.action);
        self.resource.push(event.resource.name);
        self.account
            .push(event.resource.account.as_ref().map(ToString::to_string));
        self.document_id.push(event.resource.document_id);
        self.outcome.push(event.outcome);
        self.request_id.push(event.request_id);
        self.details.push(event.details);
        self.prev_hash.push(prev_hash.to_vec());
        self.hash.push(hash.to_vec());
    }
}
