//! Queries of the rollups `document_statistics`, `document_totals` and `archive_statistics`
//! (migrations `create_statistics`, `regrain_statistics_rollups`), and the recount that checks
//! them against the documents themselves.

use chrono::NaiveDate;
use sqlx::{Postgres, QueryBuilder};

use super::Database;
use super::codec::{decode, encode};
use super::search::prefix_end;
use crate::domain::{
    BusinessProcess, DocumentCount, DocumentTypeCode, OrgUnitCode, StatisticsRequest, Visibility,
};
use crate::storage::StorageError;

/// Each unit's own archives, and its own document counts.
type StoredStatistics = (Vec<(String, i64)>, Vec<DocumentCount>);

#[derive(sqlx::FromRow)]
struct CountRow {
    org_unit_code: String,
    document_type: Option<String>,
    business_process: Option<String>,
    month: Option<NaiveDate>,
    documents: i64,
    pages: i64,
    bytes: i64,
}

impl Database {
    /// Each unit's own archives, and its own document counts grouped by the breakdowns asked
    /// for, within `unit`'s subtree; the caller rolls them up the tree.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "statistics"))]
    pub async fn statistics(
        &self,
        request: &StatisticsRequest,
        unit: Option<&OrgUnitCode>,
        visibility: &Visibility,
    ) -> Result<StoredStatistics, StorageError> {
        let mut archives = QueryBuilder::<Postgres>::new(
            "SELECT org_unit_code::text, sum(archives)::bigint FROM archive_statistics WHERE true",
        );
        push_unit_filters(&mut archives, request, unit);
        archives.push(" GROUP BY 1 HAVING sum(archives) <> 0 ORDER BY 1");
        let archives: Vec<(String, i64)> = archives.build_query_as().fetch_all(&self.pool).await?;

        let column = |asked: bool, expression: &str, name: &str| {
            if asked {
                format!("{expression} AS {name}")
            } else {
                format!("NULL AS {name}")
            }
        };
        // Without a class or status filter the rollup summed over them answers: a fraction
        // of the rows.
        let rollup = if request.customer_class.is_none() && request.customer_status.is_none() {
            "document_totals"
        } else {
            "document_statistics"
        };
        let mut documents = QueryBuilder::<Postgres>::new(format!(
            "SELECT s.org_unit_code::text AS org_unit_code, {}, {}, {},
                    sum(s.documents)::bigint AS documents, sum(s.pages)::bigint AS pages,
                    sum(s.bytes)::bigint AS bytes
             FROM {rollup} s JOIN document_types t ON t.code = s.document_type
             WHERE t.confidentiality <= ",
            column(request.by_document_type, "s.document_type", "document_type"),
            column(
                request.by_business_process,
                "s.business_process",
                "business_process"
            ),
            column(request.by_month, "s.month", "month"),
        ));
        documents.push_bind(visibility.clearance.level());
        if let Some(types) = &visibility.types {
            documents
                .push(" AND s.document_type = ANY(")
                .push_bind(types.clone())
                .push(")");
        }
        push_unit_filters(&mut documents, request, unit);
        if let Some(from) = request.from_month {
            documents.push(" AND s.month >= ").push_bind(from);
        }
        if let Some(to) = request.to_month {
            documents.push(" AND s.month <= ").push_bind(to);
        }
        if !request.document_types.is_empty() {
            let types: Vec<String> = request
                .document_types
                .iter()
                .map(|t| DocumentTypeCode::as_str(t).to_owned())
                .collect();
            documents
                .push(" AND s.document_type = ANY(")
                .push_bind(types)
                .push(")");
        }
        if !request.business_processes.is_empty() {
            let processes: Vec<String> = request
                .business_processes
                .iter()
                .map(|p| encode(*p).to_owned())
                .collect();
            documents
                .push(" AND s.business_process = ANY(")
                .push_bind(processes)
                .push(")");
        }
        documents.push(" GROUP BY 1, 2, 3, 4 HAVING sum(s.documents) <> 0 ORDER BY 1, 2, 3, 4");
        let rows: Vec<CountRow> = documents.build_query_as().fetch_all(&self.pool).await?;
        let documents = rows
            .into_iter()
            .map(|row| {
                Ok(DocumentCount {
                    org_unit: row.org_unit_code,
                    document_type: row.document_type,
                    business_process: row
                        .business_process
                        .as_deref()
                        .map(|p| decode::<BusinessProcess>("business_process", p))
                        .transpose()?,
                    month: row.month,
                    documents: row.documents,
                    pages: row.pages,
                    bytes: row.bytes,
                })
            })
            .collect::<Result<_, StorageError>>()?;
        Ok((archives, documents))
    }

    /// Recounts every rollup from the documents and customers themselves and returns each
    /// key where the kept figures differ (empty: they agree). Scans everything: for the
    /// `custodian check-statistics` command, not for requests.
    #[tracing::instrument(name = "db.query", skip_all, err, fields(db.system = "postgresql", db.operation = "recount_statistics"))]
    pub async fn statistics_discrepancies(&self) -> Result<Vec<String>, StorageError> {
        let mut differences: Vec<String> = sqlx::query_scalar(
            "WITH recount AS (
                 SELECT c.org_unit_code COLLATE \"C\" AS org_unit_code, v.document_type,
                        v.business_process, statistics_month(d.filed_at) AS month,
                        c.customer_class, c.status AS customer_status,
                        count(*)::bigint AS documents, sum(s.page_count)::bigint AS pages,
                        sum(s.size_bytes)::bigint AS bytes
                 FROM documents d
                 JOIN customers c ON c.account_number = d.account_number
                 JOIN document_versions v
                   ON v.document_id = d.document_id AND v.version = d.current_version
                 CROSS JOIN LATERAL (
                     SELECT count(*) AS page_count, coalesce(sum(pc.size_bytes), 0) AS size_bytes
                     FROM pages p JOIN page_contents pc ON pc.sha256 = p.sha256
                     WHERE p.document_id = d.document_id AND p.version = d.current_version
                 ) s
                 WHERE d.destroyed_at IS NULL
                 GROUP BY 1, 2, 3, 4, 5, 6
             ), kept AS (
                 SELECT org_unit_code, document_type, business_process, month, customer_class,
                        customer_status, documents, pages, bytes
                 FROM document_statistics
                 WHERE documents <> 0 OR pages <> 0 OR bytes <> 0
             ), totals_recount AS (
                 SELECT org_unit_code, document_type, business_process, month,
                        sum(documents)::bigint AS documents, sum(pages)::bigint AS pages,
                        sum(bytes)::bigint AS bytes
                 FROM recount GROUP BY 1, 2, 3, 4
             ), totals_kept AS (
                 SELECT org_unit_code, document_type, business_process, month, documents,
                        pages, bytes
                 FROM document_totals
                 WHERE documents <> 0 OR pages <> 0 OR bytes <> 0
             )
             SELECT format('documents of %s %s %s %s %s %s: kept %s/%s/%s, counted %s/%s/%s',
                           org_unit_code, document_type, business_process, month,
                           customer_class, customer_status,
                           k.documents, k.pages, k.bytes, r.documents, r.pages, r.bytes)
             FROM recount r
             FULL JOIN kept k USING (org_unit_code, document_type, business_process, month,
                                     customer_class, customer_status)
             WHERE (r.documents, r.pages, r.bytes) IS DISTINCT FROM (k.documents, k.pages, k.bytes)
             UNION ALL
             SELECT format('document totals of %s %s %s %s: kept %s/%s/%s, counted %s/%s/%s',
                           org_unit_code, document_type, business_process, month,
                           k.documents, k.pages, k.bytes, r.documents, r.pages, r.bytes)
             FROM totals_recount r
             FULL JOIN totals_kept k USING (org_unit_code, document_type, business_process, month)
             WHERE (r.documents, r.pages, r.bytes) IS DISTINCT FROM (k.documents, k.pages, k.bytes)
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let archives: Vec<String> = sqlx::query_scalar(
            "WITH recount AS (
                 SELECT org_unit_code COLLATE \"C\" AS org_unit_code, customer_class,
                        status AS customer_status, count(*)::bigint AS archives
                 FROM customers GROUP BY 1, 2, 3
             ), kept AS (
                 SELECT org_unit_code, customer_class, customer_status, archives
                 FROM archive_statistics WHERE archives <> 0
             )
             SELECT format('archives of %s %s %s: kept %s, counted %s', org_unit_code,
                           customer_class, customer_status, k.archives, r.archives)
             FROM recount r
             FULL JOIN kept k USING (org_unit_code, customer_class, customer_status)
             WHERE r.archives IS DISTINCT FROM k.archives
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        differences.extend(archives);
        Ok(differences)
    }
}

/// The subtree, class and status filters both rollups share (their columns are named alike).
fn push_unit_filters(
    query: &mut QueryBuilder<'_, Postgres>,
    request: &StatisticsRequest,
    unit: Option<&OrgUnitCode>,
) {
    if let Some(unit) = unit {
        query
            .push(" AND org_unit_code >= ")
            .push_bind(unit.as_str().to_owned())
            .push(" AND org_unit_code < ")
            .push_bind(prefix_end(unit.as_str()));
    }
    if let Some(class) = request.customer_class {
        query
            .push(" AND customer_class = ")
            .push_bind(encode(class));
    }
    if let Some(status) = request.customer_status {
        query
            .push(" AND customer_status = ")
            .push_bind(encode(status));
    }
}
