//! Queries of `customer_revisions`, which the triggers on `customers` write (see the records
//! rules migration); nothing here writes them.

use chrono::{DateTime, Utc};

use super::Database;
use super::customers::CustomerRow;
use crate::domain::{AccountNumber, Customer, CustomerRevision};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct RevisionRow {
    #[sqlx(flatten)]
    customer: CustomerRow,
    valid_until: Option<DateTime<Utc>>,
    changed_by: String,
}

impl TryFrom<RevisionRow> for CustomerRevision {
    type Error = StorageError;

    fn try_from(row: RevisionRow) -> Result<Self, StorageError> {
        let customer = Customer::try_from(row.customer)?;
        Ok(CustomerRevision {
            valid_from: customer.update_time,
            customer,
            valid_until: row.valid_until,
            changed_by: row.changed_by,
        })
    }
}

/// A revision in the shape of a customer row: `update_time` is the revision's `valid_from`,
/// `create_time` the account's opening. Followed by the given clauses.
macro_rules! select_revisions {
    ($clauses:literal) => {
        concat!(
            "SELECT r.account_number, r.display_name, r.customer_class, r.org_unit_code,
                    r.status, r.id_number, r.phone, r.address, c.create_time, c.opened_at,
                    r.valid_from AS update_time, r.revision, r.changed_by,
                    (SELECT n.valid_from FROM customer_revisions n
                      WHERE n.account_number = r.account_number
                        AND n.revision = r.revision + 1) AS valid_until
             FROM customer_revisions r
             JOIN customers c ON c.account_number = r.account_number ",
            $clauses
        )
    };
}

impl Database {
    /// A customer's revisions below `before` (all when `None`), newest first.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "customer_revisions"))]
    pub async fn customer_revisions(
        &self,
        account: &AccountNumber,
        before: Option<u32>,
        limit: usize,
    ) -> Result<Vec<CustomerRevision>, StorageError> {
        let rows: Vec<RevisionRow> = sqlx::query_as(select_revisions!(
            "WHERE r.account_number = $1 AND ($2::int IS NULL OR r.revision < $2)
             ORDER BY r.revision DESC
             LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(before.map(|revision| revision as i32))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(CustomerRevision::try_from).collect()
    }

    /// Every revision of the given accounts, for masking what their holders' values appear in.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "customer_revisions_of"))]
    pub async fn customer_revisions_of(
        &self,
        accounts: &[&str],
    ) -> Result<Vec<CustomerRevision>, StorageError> {
        let rows: Vec<RevisionRow> = sqlx::query_as(select_revisions!(
            "WHERE r.account_number = ANY($1) ORDER BY r.account_number, r.revision DESC"
        ))
        .bind(accounts)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(CustomerRevision::try_from).collect()
    }

    /// One revision of a customer.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "customer_revision"))]
    pub async fn customer_revision(
        &self,
        account: &AccountNumber,
        revision: u32,
    ) -> Result<Option<CustomerRevision>, StorageError> {
        let row: Option<RevisionRow> = sqlx::query_as(select_revisions!(
            "WHERE r.account_number = $1 AND r.revision = $2"
        ))
        .bind(account.as_str())
        .bind(revision as i32)
        .fetch_optional(&self.pool)
        .await?;
        row.map(CustomerRevision::try_from).transpose()
    }
}
