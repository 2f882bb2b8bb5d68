-- Two SearchDocuments filter shapes read far more of `document_index` than they return at
-- 3 M documents (EXPLAIN (ANALYZE, BUFFERS) in BENCHMARKS.md, 2026-12-03, county preset):
--
-- * One unit and one type over a month: the unit is a range of codes (a subtree), so on
--   `document_index_unit_type_idx` the type and the dates are checked on every entry of the
--   unit (a station: 75,000 entries, 690 pages read, 7.7 ms) instead of bounding the scan.
--   An index that starts with the type and the filing time bounds it by both and checks the
--   unit inside the index (INCLUDE): 1.0 ms. It also serves what `document_index_type_idx`
--   served (one type, newest first), which it replaces.
-- * One work order: the partial index (`WHERE work_order_number <> ''`) is usable only when
--   the planner sees the value. A prepared statement's generic plan (which PostgreSQL may
--   choose after a statement's first executions) sees `$n`, cannot prove `$n <> ''`, and
--   scanned the whole reach instead (7.2 s). The whole-column index serves both plans.
DROP INDEX document_index_type_idx;
CREATE INDEX document_index_type_idx
    ON document_index (document_type, filed_at DESC, document_id DESC) INCLUDE (org_unit_code);

DROP INDEX document_index_work_order_idx;
CREATE INDEX document_index_work_order_idx ON document_index (work_order_number);
