-- The statements SearchDocuments runs for each filter shape (src/storage/database/search.rs),
-- as the province custodian of the benchmark runs them (reach: province 12, clearance
-- confidential, every type visible), prepared as the server prepares them, with the plan
-- PostgreSQL chooses for a prepared statement's later executions forced (generic plans), and
-- then with the plan of its first executions (custom). Run against the county preset:
--   psql "$CUSTODIAN_BENCH_COUNTY_URL" -v work_order="'YX…'" -f benches/county/search_plans.sql
\set ON_ERROR_STOP on
\pset pager off

-- One station + one type over a month.
PREPARE unit_type_month(smallint, text, text, text[], timestamptz, timestamptz, bigint) AS
SELECT i.document_id FROM document_index i JOIN document_types t ON t.code = i.document_type
WHERE t.confidentiality <= $1 AND i.org_unit_code >= $2 AND i.org_unit_code < $3
  AND i.document_type = ANY($4) AND i.filed_at >= $5 AND i.filed_at < $6
ORDER BY i.filed_at DESC, i.document_id DESC LIMIT $7;

-- One work order, across the caller's reach.
PREPARE work_order(smallint, text, text, text, bigint) AS
SELECT i.document_id FROM document_index i JOIN document_types t ON t.code = i.document_type
WHERE t.confidentiality <= $1 AND i.org_unit_code >= $2 AND i.org_unit_code < $3
  AND i.work_order_number = $4
ORDER BY i.filed_at DESC, i.document_id DESC LIMIT $5;

-- A whole county + one type, first page.
PREPARE county_type(smallint, text, text, text[], bigint) AS
SELECT i.document_id FROM document_index i JOIN document_types t ON t.code = i.document_type
WHERE t.confidentiality <= $1 AND i.org_unit_code >= $2 AND i.org_unit_code < $3
  AND i.document_type = ANY($4)
ORDER BY i.filed_at DESC, i.document_id DESC LIMIT $5;

-- A whole county, newest first, first page.
PREPARE county(smallint, text, text, bigint) AS
SELECT i.document_id FROM document_index i JOIN document_types t ON t.code = i.document_type
WHERE t.confidentiality <= $1 AND i.org_unit_code >= $2 AND i.org_unit_code < $3
ORDER BY i.filed_at DESC, i.document_id DESC LIMIT $4;

SET plan_cache_mode = force_generic_plan;
\echo '=== generic plans (a prepared statement after its first executions) ==='
\echo '--- station + type + month'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE unit_type_month(2, '12010105', '12010106',
    '{application-form}', '2024-03-01', '2024-04-01', 51);
\echo '--- work order'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE work_order(2, '12', '13', :work_order, 51);
\echo '--- county + type'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE county_type(2, '120101', '120102', '{inspection-work-order}', 51);
\echo '--- county'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE county(2, '120101', '120102', 51);

SET plan_cache_mode = force_custom_plan;
\echo '=== custom plans (a prepared statement''s first executions) ==='
\echo '--- station + type + month'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE unit_type_month(2, '12010105', '12010106',
    '{application-form}', '2024-03-01', '2024-04-01', 51);
\echo '--- work order'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE work_order(2, '12', '13', :work_order, 51);
\echo '--- county + type'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE county_type(2, '120101', '120102', '{inspection-work-order}', 51);
\echo '--- county'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE county(2, '120101', '120102', 51);
