//! Queries of the `customers` table.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::Database;
use super::codec::{decode, encode, number, parse_column};
use crate::domain::{
    AccountNumber, AuditEvent, ChangeStamp, Customer, CustomerChanges, CustomerDisplayName,
    IdentifierField, IdentifierKey, NewCustomer, OrgUnitCode, PersonalText,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
pub(super) struct CustomerRow {
    account_number: String,
    display_name: String,
    customer_class: String,
    org_unit_code: String,
    status: String,
    id_number: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    revision: i32,
    // Absent from revision rows, which keep no closure time of their own.
    #[sqlx(default)]
    opened_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    closed_at: Option<DateTime<Utc>>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StorageError;

    fn try_from(row: CustomerRow) -> Result<Self, StorageError> {
        Ok(Customer {
            account_number: parse_column(
                "account_number",
                &row.account_number,
                AccountNumber::parse,
            )?,
            display_name: parse_column(
                "display_name",
                &row.display_name,
                CustomerDisplayName::parse,
            )?,
            customer_class: decode("customer_class", &row.customer_class)?,
            org_unit_code: parse_column("org_unit_code", &row.org_unit_code, OrgUnitCode::parse)?,
            status: decode("status", &row.status)?,
            id_number: personal("id_number", row.id_number)?,
            phone: personal("phone", row.phone)?,
            address: personal("address", row.address)?,
            create_time: row.create_time,
            update_time: row.update_time,
            opened_at: row.opened_at.unwrap_or(row.create_time),
            closed_at: row.closed_at,
            revision: number("revision", row.revision)?,
        })
    }
}

/// Writes (or rewrites, under the key in force) one digest of the blind index.
pub(super) async fn insert_digest(
    tx: &mut Transaction<'_, Postgres>,
    key: &IdentifierKey,
    account: &str,
    revision: i32,
    field: IdentifierField,
    text: &str,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO customer_identifier_digests (account_number, revision, field, digest, key_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_number, revision, field)
         DO UPDATE SET digest = EXCLUDED.digest, key_id = EXCLUDED.key_id",
    )
    .bind(account)
    .bind(revision)
    .bind(field.code())
    .bind(key.digest(field, text).as_slice())
    .bind(key.key_id().as_slice())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn personal(column: &str, value: Option<String>) -> Result<Option<PersonalText>, StorageError> {
    value
        .as_deref()
        .map(|text| parse_column(column, text, PersonalText::parse))
        .transpose()
}

impl Database {
    /// Inserts a customer with its audit event; `None` (and nothing written) when the account
    /// number is taken.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "insert_customer"))]
    pub async fn insert_customer(
        &self,
        new: &NewCustomer,
        stamp: &ChangeStamp,
        event: &AuditEvent,
    ) -> Result<Option<Customer>, StorageError> {
        let mut tx = self.begin_customer_change(stamp).await?;
        let row: Option<CustomerRow> = sqlx::query_as(
            "INSERT INTO customers (account_number, display_name, customer_class, org_unit_code,
                                    status, id_number, phone, address, create_time, update_time,
                                    opened_at, closed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)
             ON CONFLICT (account_number) DO NOTHING
             RETURNING *",
        )
        .bind(new.account_number.as_str())
        .bind(new.display_name.as_str())
        .bind(encode(new.customer_class))
        .bind(new.org_unit_code.as_str())
        .bind(encode(new.status))
        .bind(new.id_number.as_ref().map(PersonalText::as_str))
        .bind(new.phone.as_ref().map(PersonalText::as_str))
        .bind(new.address.as_ref().map(PersonalText::as_str))
        .bind(stamp.at)
        .bind(new.opened_at)
        .bind(new.closed_at)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit_change(tx, row, event).await
    }

    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "customer"))]
    pub async fn customer(
        &self,
        account: &AccountNumber,
    ) -> Result<Option<Customer>, StorageError> {
        let row: Option<CustomerRow> =
            sqlx::query_as("SELECT * FROM customers WHERE account_number = $1")
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Customer::try_from).transpose()
    }

    /// Changes the given fields in one statement, so concurrent updates of different fields
    /// do not undo each other, and commits the audit event with them; `None` when the customer
    /// does not exist.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "update_customer"))]
    pub async fn update_customer(
        &self,
        account: &AccountNumber,
        changes: &CustomerChanges,
        stamp: &ChangeStamp,
        event: &AuditEvent,
    ) -> Result<Option<Customer>, StorageError> {
        let mut tx = self.begin_customer_change(stamp).await?;
        let row: Option<CustomerRow> = sqlx::query_as(
            "UPDATE customers SET
                 display_name = COALESCE($2, display_name),
                 customer_class = COALESCE($3, customer_class),
                 org_unit_code = COALESCE($4, org_unit_code),
                 status = COALESCE($5, status),
                 id_number = COALESCE($6, id_number),
                 phone = COALESCE($7, phone),
                 address = COALESCE($8, address),
                 update_time = $9
             WHERE account_number = $1
             RETURNING *",
        )
        .bind(account.as_str())
        .bind(
            changes
                .display_name
                .as_ref()
                .map(CustomerDisplayName::as_str),
        )
        .bind(changes.customer_class.map(encode))
        .bind(changes.org_unit_code.as_ref().map(OrgUnitCode::as_str))
        .bind(changes.status.map(encode))
        .bind(changes.id_number.as_ref().map(PersonalText::as_str))
        .bind(changes.phone.as_ref().map(PersonalText::as_str))
        .bind(changes.address.as_ref().map(PersonalText::as_str))
        .bind(stamp.at)
        .fetch_optional(&mut *tx)
        .await?;
        self.commit_change(tx, row, event).await
    }

    /// Begins a transaction that changes customers: the history trigger records `stamp.by`
    /// as the author of the revisions it writes (`set_config(…, true)` lasts until the
    /// transaction ends, so a pooled connection carries nothing over).
    async fn begin_customer_change(
        &self,
        stamp: &ChangeStamp,
    ) -> Result<Transaction<'static, Postgres>, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('custodian.changed_by', $1, true)")
            .bind(&stamp.by)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Commits a customer change with its audit event; without a changed row nothing is written.
    async fn commit_change(
        &self,
        mut tx: Transaction<'_, Postgres>,
        row: Option<CustomerRow>,
        event: &AuditEvent,
    ) -> Result<Option<Customer>, StorageError> {
        let Some(row) = row else {
            return Ok(None);
        };
        // The new revision's blind index, in the change's own transaction.
        if let Some(key) = &self.identifier_key {
            let values = [
                (IdentifierField::IdNumber, row.id_number.as_deref()),
                (IdentifierField::Phone, row.phone.as_deref()),
            ];
            for (field, value) in values {
                if let Some(text) = value {
                    insert_digest(&mut tx, key, &row.account_number, row.revision, field, text)
                        .await?;
                }
            }
        }
        self.commit_with_event(tx, event).await?;
        Customer::try_from(row).map(Some)
    }

    /// Lists customers of an org unit's subtree (or one account) in account-number order,
    /// after a cursor.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "list_customers"))]
    pub async fn list_customers(
        &self,
        org_unit: Option<&OrgUnitCode>,
        only_account: Option<&AccountNumber>,
        after: Option<&AccountNumber>,
        limit: usize,
    ) -> Result<Vec<Customer>, StorageError> {
        // Org unit codes are digits only, so the LIKE pattern has no wildcards but its own.
        let rows: Vec<CustomerRow> = sqlx::query_as(
            "SELECT * FROM customers
             WHERE ($1::text IS NULL OR org_unit_code LIKE $1 || '%')
               AND ($2::text IS NULL OR account_number = $2)
               AND ($3::text IS NULL OR account_number > $3)
             ORDER BY account_number
             LIMIT $4",
        )
        .bind(org_unit.map(OrgUnitCode::as_str))
        .bind(only_account.map(AccountNumber::as_str))
        .bind(after.map(AccountNumber::as_str))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Customer::try_from).collect()
    }
}
