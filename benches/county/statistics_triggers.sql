-- psql <county database> -f benches/county/statistics_triggers.sql
-- Per-change cost of the rollup triggers: 2,000 single-row UPDATEs of document_index, each
-- retyping one document (so each moves two keys of each rollup), run with the triggers of
-- this schema, with no rollup triggers, and with the row-level sharded trigger of the
-- previous schema (recreated here); all rolled back.
\timing on
BEGIN;
CREATE TEMP TABLE sample AS
  SELECT document_id, document_type FROM document_index ORDER BY document_id LIMIT 2000;
CREATE FUNCTION pg_temp.retype_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM sample LOOP
    UPDATE document_index SET document_type = CASE WHEN r.document_type = 'notice' THEN 'application-form' ELSE 'notice' END
     WHERE document_id = r.document_id;
  END LOOP;
END $$;
SAVEPOINT s;
\echo statement-level rollup triggers (this schema)
SELECT pg_temp.retype_all();
ROLLBACK TO s;
SELECT pg_temp.retype_all();
ROLLBACK TO s;
\echo no rollup triggers
ALTER TABLE document_index DISABLE TRIGGER statistics_document_index_insert;
ALTER TABLE document_index DISABLE TRIGGER statistics_document_index_update;
ALTER TABLE document_index DISABLE TRIGGER statistics_document_index_delete;
SAVEPOINT u;
SELECT pg_temp.retype_all();
ROLLBACK TO u;
SELECT pg_temp.retype_all();
ROLLBACK TO u;
\echo the previous schema: a row-level trigger into an 8-shard rollup
CREATE TABLE old_statistics (
    org_unit_code text COLLATE "C" NOT NULL, document_type text NOT NULL,
    business_process text NOT NULL, month date NOT NULL, customer_class text NOT NULL,
    customer_status text NOT NULL, shard smallint NOT NULL, documents bigint NOT NULL,
    pages bigint NOT NULL, bytes bigint NOT NULL,
    PRIMARY KEY (org_unit_code, month, document_type, business_process, customer_class,
                 customer_status, shard));
INSERT INTO old_statistics
SELECT org_unit_code, document_type, business_process, statistics_month(filed_at),
       customer_class, customer_status, abs(hashtext(document_id::text)) % 8,
       count(*), sum(page_count), sum(size_bytes)
  FROM document_index GROUP BY 1, 2, 3, 4, 5, 6, 7;
CREATE FUNCTION pg_temp.old_add(r document_index, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO old_statistics AS s VALUES (
        r.org_unit_code, r.document_type, r.business_process, statistics_month(r.filed_at),
        r.customer_class, r.customer_status, abs(hashtext(r.document_id::text)) % 8,
        sign, sign * r.page_count, sign * r.size_bytes)
    ON CONFLICT (org_unit_code, month, document_type, business_process, customer_class,
                 customer_status, shard)
    DO UPDATE SET documents = s.documents + EXCLUDED.documents,
                  pages = s.pages + EXCLUDED.pages, bytes = s.bytes + EXCLUDED.bytes $$;
CREATE FUNCTION pg_temp.old_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM pg_temp.old_add(OLD, -1); END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM pg_temp.old_add(NEW, 1); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER old_statistics AFTER INSERT OR UPDATE OR DELETE ON document_index
    FOR EACH ROW EXECUTE FUNCTION pg_temp.old_trigger();
SAVEPOINT t;
SELECT pg_temp.retype_all();
ROLLBACK TO t;
SELECT pg_temp.retype_all();
ROLLBACK;
