//! Queries of the archive index (`document_index`, kept by the triggers of the migration
//! `create_document_index`): document searches across archives.
//!
//! The statement is built from the filters present, never `($n IS NULL OR …)`: PostgreSQL then
//! plans each filter shape with the index made for it, also once it caches a generic plan.

use sqlx::{Postgres, QueryBuilder};

use super::Database;
use super::codec::encode;
use super::documents::{DocumentPagesRow, select_document_summaries, select_documents};
use crate::domain::{
    Document, DocumentOrder, DocumentSearch, DocumentTypeCode, DocumentView, SearchCursor,
    SearchScope, Visibility,
};
use crate::storage::StorageError;

impl Database {
    /// The current versions of the documents a search finds, in its order, after a cursor;
    /// in the basic view without reading their pages.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "search_documents"))]
    pub async fn search_documents(
        &self,
        search: &DocumentSearch,
        scope: &SearchScope,
        visibility: &Visibility,
        view: DocumentView,
        after: Option<&SearchCursor>,
        limit: usize,
    ) -> Result<Vec<Document>, StorageError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "WITH hits AS MATERIALIZED (
                 SELECT i.document_id FROM document_index i
                 JOIN document_types t ON t.code = i.document_type
                 WHERE t.confidentiality <= ",
        );
        query.push_bind(visibility.clearance.level());
        if let Some(types) = &visibility.types {
            query
                .push(" AND i.document_type = ANY(")
                .push_bind(types.clone())
                .push(")");
        }
        if let Some(unit) = &scope.org_unit {
            // The subtree of `unit` is the range of codes starting with its digits.
            query
                .push(" AND i.org_unit_code >= ")
                .push_bind(unit.as_str().to_owned())
                .push(" AND i.org_unit_code < ")
                .push_bind(prefix_end(unit.as_str()));
        }
        if let Some(account) = &scope.account {
            query
                .push(" AND i.account_number = ")
                .push_bind(account.as_str().to_owned());
        }
        push_filters(&mut query, search);
        match (search.order, after) {
            (DocumentOrder::FileTime, Some(cursor)) => {
                query
                    .push(" AND (i.filed_at, i.document_id) < (")
                    .push_bind(cursor.filed_at)
                    .push(", ")
                    .push_bind(cursor.id)
                    .push(")");
            }
            (DocumentOrder::Reference, Some(cursor)) => {
                query
                    .push(" AND (i.account_number, i.filed_at, i.document_id) > (")
                    .push_bind(
                        cursor
                            .account
                            .as_ref()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default(),
                    )
                    .push(", ")
                    .push_bind(cursor.filed_at)
                    .push(", ")
                    .push_bind(cursor.id)
                    .push(")");
            }
            (_, None) => {}
        }
        let (inner_order, outer_order) = match search.order {
            DocumentOrder::FileTime => (
                "i.filed_at DESC, i.document_id DESC",
                "d.filed_at DESC, d.document_id DESC",
            ),
            DocumentOrder::Reference => (
                "i.account_number, i.filed_at, i.document_id",
                "d.account_number COLLATE \"C\", d.filed_at, d.document_id",
            ),
        };
        // Both selections join the hits the same way; the basic one reads no page.
        macro_rules! hits {
            () => {
                "JOIN hits h ON h.document_id = d.document_id ORDER BY"
            };
        }
        query
            .push(" ORDER BY ")
            .push(inner_order)
            .push(" LIMIT ")
            .push_bind(limit as i64)
            .push(") ")
            .push(match view {
                DocumentView::Full => select_documents!(hits!()),
                DocumentView::Basic => select_document_summaries!(hits!()),
            })
            .push(" ")
            .push(outer_order);
        let rows: Vec<DocumentPagesRow> = query.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| row.into_owned_document().map(|(document, _)| document))
            .collect()
    }
}

/// Adds the search's own filters to the index query.
fn push_filters(query: &mut QueryBuilder<'_, Postgres>, search: &DocumentSearch) {
    if !search.document_types.is_empty() {
        let types: Vec<String> = search
            .document_types
            .iter()
            .map(DocumentTypeCode::as_str)
            .map(str::to_owned)
            .collect();
        query
            .push(" AND i.document_type = ANY(")
            .push_bind(types)
            .push(")");
    }
    if !search.business_processes.is_empty() {
        let processes: Vec<String> = search
            .business_processes
            .iter()
            .map(|process| encode(*process).to_owned())
            .collect();
        query
            .push(" AND i.business_process = ANY(")
            .push_bind(processes)
            .push(")");
    }
    if let Some(work_order) = &search.work_order_number {
        query
            .push(" AND i.work_order_number = ")
            .push_bind(work_order.as_str().to_owned());
    }
    for (column, comparison, time) in [
        ("filed_at", ">=", search.filed_after),
        ("filed_at", "<", search.filed_before),
        ("original_at", ">=", search.original_after),
        ("original_at", "<", search.original_before),
    ] {
        if let Some(time) = time {
            query
                .push(format!(" AND i.{column} {comparison} "))
                .push_bind(time);
        }
    }
    if let Some(class) = search.customer_class {
        query
            .push(" AND i.customer_class = ")
            .push_bind(encode(class));
    }
    if let Some(status) = search.customer_status {
        query
            .push(" AND i.customer_status = ")
            .push_bind(encode(status));
    }
    if let Some(source) = &search.source_system {
        query
            .push(" AND i.source_system = ")
            .push_bind(source.as_str().to_owned());
    }
    if let Some(reference) = &search.legacy_reference {
        query
            .push(" AND i.legacy_reference = ")
            .push_bind(reference.as_str().to_owned());
    }
}

/// The first code after every code that starts with `prefix` (digits): `1201` → `1202`,
/// `1209` → `120:` (`:` follows `9` in ASCII, and the index compares bytewise).
pub(super) fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_the_next_code() {
        assert_eq!(prefix_end("1201"), "1202");
        assert_eq!(prefix_end("1209"), "120:");
        assert!("120999" < prefix_end("1209").as_str());
        assert!("1210" >= prefix_end("1209").as_str());
    }
}
