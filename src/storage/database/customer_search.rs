//! Customer searches (migration `index_customers_for_search`): account number prefixes, name
//! and address substrings through the bigram indexes, ID numbers and phones through the blind
//! index; and the backfill of that blind index.

use sqlx::{Postgres, QueryBuilder};

use super::Database;
use super::customers::{CustomerRow, insert_digest};
use super::search::prefix_end;
use crate::domain::{
    AccountNumber, Customer, CustomerMatch, CustomerQuery, CustomerSearch, IdentifierField,
    IdentifierKey,
};
use crate::storage::StorageError;

#[derive(sqlx::FromRow)]
struct MatchRow {
    #[sqlx(flatten)]
    customer: CustomerRow,
    former_holder: bool,
}

/// Rows of revisions the backfill digests per statement.
const BACKFILL_BATCH: i64 = 500;

impl Database {
    /// The customers a search finds, in account-number order, after a cursor. Identifier
    /// filters need the key (the caller checked that there is one).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "search_customers"))]
    pub async fn search_customers(
        &self,
        search: &CustomerSearch,
        scope: &CustomerQuery,
        after: Option<&AccountNumber>,
        limit: usize,
    ) -> Result<Vec<CustomerMatch>, StorageError> {
        let identifiers: Vec<(IdentifierField, &str)> = [
            (IdentifierField::IdNumber, search.id_number.as_deref()),
            (IdentifierField::Phone, search.phone.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, text)| text.map(|text| (field, text)))
        .collect();
        let key = match (&self.identifier_key, identifiers.is_empty()) {
            (Some(key), _) => Some(key),
            (None, true) => None,
            (None, false) => {
                return Err(StorageError::Unexpected(anyhow::anyhow!(
                    "an identifier search without a key"
                )));
            }
        };
        let mut query = QueryBuilder::<Postgres>::new("SELECT c.*, ");
        // Former-holder matches: the identifiers matched, but not all on the current revision.
        if identifiers.is_empty() {
            query.push("false");
        } else {
            query.push("NOT (true");
            for (field, text) in &identifiers {
                push_digest_match(&mut query, key, *field, text, false);
            }
            query.push(")");
        }
        query.push(" AS former_holder FROM customers c WHERE true");
        if let Some(prefix) = &search.account_prefix {
            query
                .push(" AND c.account_number COLLATE \"C\" >= ")
                .push_bind(prefix.as_str().to_owned())
                .push(" AND c.account_number COLLATE \"C\" < ")
                .push_bind(prefix_end(prefix.as_str()));
        }
        for (column, text) in [
            ("display_name", search.name.as_ref()),
            ("address", search.address.as_ref()),
        ] {
            if let Some(text) = text {
                // The index narrows by bigrams; the text is then checked for the whole part.
                query
                    .push(format!(
                        " AND search_bigrams(c.{column}) @> search_bigrams("
                    ))
                    .push_bind(text.as_str().to_owned())
                    .push(format!(") AND strpos(lower(c.{column}), lower("))
                    .push_bind(text.as_str().to_owned())
                    .push(")) > 0");
            }
        }
        if scope.businesses_only {
            query.push(" AND c.customer_class = 'non_residential'");
        }
        if let Some(unit) = &scope.org_unit {
            query
                .push(" AND c.org_unit_code LIKE ")
                .push_bind(format!("{}%", unit.as_str()));
        }
        if let Some(account) = &scope.account {
            query
                .push(" AND c.account_number = ")
                .push_bind(account.as_str().to_owned());
        }
        for (field, text) in &identifiers {
            push_digest_match(&mut query, key, *field, text, search.include_former_holders);
        }
        if let Some(after) = after {
            query
                .push(" AND c.account_number COLLATE \"C\" > ")
                .push_bind(after.as_str().to_owned());
        }
        query
            .push(" ORDER BY c.account_number COLLATE \"C\" LIMIT ")
            .push_bind(limit as i64);
        let rows: Vec<MatchRow> = query.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                Ok(CustomerMatch {
                    customer: Customer::try_from(row.customer)?,
                    former_holder: row.former_holder,
                })
            })
            .collect()
    }

    /// Digests the ID numbers and phones of revisions that have none under the key in force
    /// (rows from before the blind index, or from a time without a key, or under an earlier
    /// key), a batch at a time; returns how many revisions it digested (0: all are done).
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "backfill_identifier_digests"))]
    pub async fn backfill_identifier_digests(&self) -> Result<u64, StorageError> {
        let Some(key) = &self.identifier_key else {
            return Ok(0);
        };
        let key_id = key.key_id();
        let rows: Vec<(String, i32, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT r.account_number, r.revision, r.id_number, r.phone
             FROM customer_revisions r
             WHERE (r.id_number IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM customer_identifier_digests g
                        WHERE g.account_number = r.account_number AND g.revision = r.revision
                          AND g.field = 'id_number' AND g.key_id = $1))
                OR (r.phone IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM customer_identifier_digests g
                        WHERE g.account_number = r.account_number AND g.revision = r.revision
                          AND g.field = 'phone' AND g.key_id = $1))
             LIMIT $2",
        )
        .bind(key_id.as_slice())
        .bind(BACKFILL_BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut tx = self.pool.begin().await?;
        for (account, revision, id_number, phone) in &rows {
            for (field, value) in [
                (IdentifierField::IdNumber, id_number),
                (IdentifierField::Phone, phone),
            ] {
                if let Some(text) = value {
                    insert_digest(&mut tx, key, account, *revision, field, text).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

/// Adds `AND EXISTS (a digest of `field` equal to `text`'s)` for the current revision, or for
/// any revision when `any_revision`.
fn push_digest_match(
    query: &mut QueryBuilder<'_, Postgres>,
    key: Option<&IdentifierKey>,
    field: IdentifierField,
    text: &str,
    any_revision: bool,
) {
    let Some(key) = key else { return };
    query
        .push(
            " AND EXISTS (SELECT 1 FROM customer_identifier_digests g
               WHERE g.account_number = c.account_number AND g.field = ",
        )
        .push_bind(field.code())
        .push(" AND g.digest = ")
        .push_bind(key.digest(field, text).to_vec())
        .push(" AND g.key_id = ")
        .push_bind(key.key_id().to_vec());
    if !any_revision {
        query.push(" AND g.revision = c.revision");
    }
    query.push(")");
}
