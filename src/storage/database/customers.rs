//! Queries of the `customers` table.

use chrono::{DateTime, Utc};

use super::{Database, decode, parse_column};
use crate::domain::{
    AccountNumber, Customer, CustomerChanges, CustomerClass, CustomerDisplayName, CustomerStatus,
    NewCustomer, OrgUnitCode,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct CustomerRow {
    account_number: String,
    display_name: String,
    customer_class: String,
    org_unit_code: String,
    status: String,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
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
            customer_class: decode("customer_class", &row.customer_class, class_from_db)?,
            org_unit_code: parse_column("org_unit_code", &row.org_unit_code, OrgUnitCode::parse)?,
            status: decode("status", &row.status, status_from_db)?,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

fn class_to_db(class: CustomerClass) -> &'static str {
    match class {
        CustomerClass::Residential => "residential",
        CustomerClass::NonResidential => "non_residential",
    }
}

fn class_from_db(text: &str) -> Option<CustomerClass> {
    [CustomerClass::Residential, CustomerClass::NonResidential]
        .into_iter()
        .find(|class| class_to_db(*class) == text)
}

fn status_to_db(status: CustomerStatus) -> &'static str {
    match status {
        CustomerStatus::Active => "active",
        CustomerStatus::Closed => "closed",
    }
}

fn status_from_db(text: &str) -> Option<CustomerStatus> {
    [CustomerStatus::Active, CustomerStatus::Closed]
        .into_iter()
        .find(|status| status_to_db(*status) == text)
}

impl Database {
    /// Inserts a customer; `None` when the account number is taken.
    pub async fn insert_customer(
        &self,
        new: &NewCustomer,
    ) -> Result<Option<Customer>, StorageError> {
        let row: Option<CustomerRow> = sqlx::query_as(
            "INSERT INTO customers (account_number, display_name, customer_class, org_unit_code, status)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_number) DO NOTHING
             RETURNING *",
        )
        .bind(new.account_number.as_str())
        .bind(new.display_name.as_str())
        .bind(class_to_db(new.customer_class))
        .bind(new.org_unit_code.as_str())
        .bind(status_to_db(new.status))
        .fetch_optional(&self.pool)
        .await?;
        row.map(Customer::try_from).transpose()
    }

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

    pub async fn customer_exists(&self, account: &AccountNumber) -> Result<bool, StorageError> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE account_number = $1)")
                .bind(account.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(exists)
    }

    /// Changes the given fields in one statement, so concurrent updates of different fields
    /// do not undo each other; `None` when the customer does not exist.
    pub async fn update_customer(
        &self,
        account: &AccountNumber,
        changes: &CustomerChanges,
    ) -> Result<Option<Customer>, StorageError> {
        let row: Option<CustomerRow> = sqlx::query_as(
            "UPDATE customers SET
                 display_name = COALESCE($2, display_name),
                 customer_class = COALESCE($3, customer_class),
                 org_unit_code = COALESCE($4, org_unit_code),
                 status = COALESCE($5, status),
                 update_time = now()
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
        .bind(changes.customer_class.map(class_to_db))
        .bind(changes.org_unit_code.as_ref().map(OrgUnitCode::as_str))
        .bind(changes.status.map(status_to_db))
        .fetch_optional(&self.pool)
        .await?;
        row.map(Customer::try_from).transpose()
    }

    /// Lists customers of an org unit's subtree in account-number order, after a cursor.
    pub async fn list_customers(
        &self,
        org_unit: Option<&OrgUnitCode>,
        after: Option<&AccountNumber>,
        limit: usize,
    ) -> Result<Vec<Customer>, StorageError> {
        // Org unit codes are digits only, so the LIKE pattern has no wildcards but its own.
        let rows: Vec<CustomerRow> = sqlx::query_as(
            "SELECT * FROM customers
             WHERE ($1::text IS NULL OR org_unit_code LIKE $1 || '%')
               AND ($2::text IS NULL OR account_number > $2)
             ORDER BY account_number
             LIMIT $3",
        )
        .bind(org_unit.map(OrgUnitCode::as_str))
        .bind(after.map(AccountNumber::as_str))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Customer::try_from).collect()
    }
}
