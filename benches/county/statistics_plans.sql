-- EXPLAIN (ANALYZE, BUFFERS) of GetStatistics' document query as
-- src/storage/database/statistics.rs builds it for the county benchmark's calls (a province
-- custodian, clearance confidential): county 120101 for 2025 by month from `document_totals`,
-- the same for residential customers only from `document_statistics`, and province 12 for
-- 2025 from `document_totals`. Run against a generated county:
--   psql <county database> -f benches/county/statistics_plans.sql
\set county_year 'org_unit_code >= ''120101'' AND org_unit_code < ''120102'' AND s.month >= ''2025-01-01'' AND s.month <= ''2025-12-01'''

EXPLAIN (ANALYZE, BUFFERS)
SELECT s.org_unit_code::text, NULL, NULL, s.month, sum(s.documents)::bigint,
       sum(s.pages)::bigint, sum(s.bytes)::bigint
  FROM document_totals s JOIN document_types t ON t.code = s.document_type
 WHERE t.confidentiality <= 2 AND :county_year
 GROUP BY 1, 2, 3, 4 HAVING sum(s.documents) <> 0 ORDER BY 1, 2, 3, 4;

EXPLAIN (ANALYZE, BUFFERS)
SELECT s.org_unit_code::text, NULL, NULL, s.month, sum(s.documents)::bigint,
       sum(s.pages)::bigint, sum(s.bytes)::bigint
  FROM document_statistics s JOIN document_types t ON t.code = s.document_type
 WHERE t.confidentiality <= 2 AND :county_year AND customer_class = 'residential'
 GROUP BY 1, 2, 3, 4 HAVING sum(s.documents) <> 0 ORDER BY 1, 2, 3, 4;

EXPLAIN (ANALYZE, BUFFERS)
SELECT s.org_unit_code::text, NULL, NULL, NULL, sum(s.documents)::bigint,
       sum(s.pages)::bigint, sum(s.bytes)::bigint
  FROM document_totals s JOIN document_types t ON t.code = s.document_type
 WHERE t.confidentiality <= 2 AND org_unit_code >= '12' AND org_unit_code < '13'
   AND s.month >= '2025-01-01' AND s.month <= '2025-12-01'
 GROUP BY 1, 2, 3, 4 HAVING sum(s.documents) <> 0 ORDER BY 1, 2, 3, 4;
