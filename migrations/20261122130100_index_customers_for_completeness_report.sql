-- The completeness report reads an org unit's subtree in batches of 1,000 accounts, keyset-paged
-- on (org_unit_code, account_number) (storage::database::completeness, `completeness_batch`).
--
-- Why a new index: customers_org_unit_code_idx uses text_pattern_ops, which serves LIKE
-- prefixes but not the row comparison `(org_unit_code, account_number) > (cursor)`, and under
-- the databases' C.UTF-8 collation a plain index serves neither. In the "C" collation a btree
-- serves both the subtree (a range: [unit, unit || ':')) and the cursor, in one index range
-- scan that starts where the previous batch ended. INCLUDE makes it an index-only scan.
--
-- EXPLAIN (ANALYZE, BUFFERS), generic plan, on a scratch database of 400,000 accounts (300,000
-- in county 120101 under 20 stations, 100,000 in 120102) and 1,070,182 documents, PostgreSQL 15,
-- 2 cores, one batch in the middle of county 120101:
--   without this index: Parallel Seq Scan on customers + top-N sort for every batch, 400,000
--     rows read per batch (≈ 35-100 ms each, so quadratic over a county), 403 ms in all;
--   with it: Index Only Scan using customers_report_order_idx, both bounds as Index Cond,
--     1,000 rows, 0.4 ms, Heap Fetches: 0; the batch's documents then come from a nested loop
--     over documents_account_filed_idx and document_versions_pkey (2,209 (case, type) groups,
--     ≈ 27 ms warm), 39 ms for the whole batch.
-- The whole county (301 batches, 300,000 accounts, 802,638 groups) took 6.5-7.4 s in a
-- PL/pgSQL loop. A covering index documents (account_number) INCLUDE (document_id,
-- current_version) brought that to 5.5 s: not worth a second copy of the largest table's key
-- for a report, so it is not created.
CREATE INDEX customers_report_order_idx
    ON customers ((org_unit_code COLLATE "C"), account_number)
    INCLUDE (customer_class, status);
