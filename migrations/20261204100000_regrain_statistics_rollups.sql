-- Regrains the document rollup for reads at county and province scale. At 3 M documents the
-- rollup of `create_statistics` had 1.57 M rows (about two documents a row: its key was
-- unit × month × type × process × class × status × 8 shards), and a county's year read
-- 85 k of them, 154 ms.
--
-- * No shards. They spread concurrent filings of one key over rows, but a filing's rollup
--   update runs at its commit (the archive index row is written by a deferred trigger), so
--   the row lock is held for the commit alone; readers paid 8× the rows for it.
-- * Month first in the keys: a period is one contiguous range of each key.
-- * A second rollup, `document_totals`, summed over customer class and status, which most
--   reports do not filter on: unit × month × type × process.
-- * Both rollups move once per statement on the archive index, the changed keys in key
--   order (rollup by rollup), so two transactions moving the same keys — two corrections
--   swapping types, two accounts moving between the same units — take their row locks in
--   one order and cannot deadlock on them. The archive index row of a document therefore
--   changes by one UPDATE, not a DELETE and an INSERT.
DROP TRIGGER statistics_document_index ON document_index;
DROP FUNCTION statistics_on_document_index();
DROP FUNCTION statistics_add_document(document_index, integer);
DROP TABLE document_statistics;

CREATE TABLE document_statistics (
    month            date NOT NULL,
    org_unit_code    text COLLATE "C" NOT NULL,
    document_type    text NOT NULL,
    business_process text NOT NULL,
    customer_class   text NOT NULL,
    customer_status  text NOT NULL,
    documents        bigint NOT NULL,
    pages            bigint NOT NULL,
    bytes            bigint NOT NULL,
    PRIMARY KEY (month, org_unit_code, document_type, business_process, customer_class,
                 customer_status)
);

-- `document_statistics` summed over customer class and status.
CREATE TABLE document_totals (
    month            date NOT NULL,
    org_unit_code    text COLLATE "C" NOT NULL,
    document_type    text NOT NULL,
    business_process text NOT NULL,
    documents        bigint NOT NULL,
    pages            bigint NOT NULL,
    bytes            bigint NOT NULL,
    PRIMARY KEY (month, org_unit_code, document_type, business_process)
);

-- The statement's changes: its transition tables `gained` and `lost` (visible to the dynamic
-- statements of the trigger's own function, not to functions it calls), each row with a
-- `sign`, +1 gained or -1 lost.
CREATE FUNCTION statistics_on_document_index() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT g.*, 1 AS sign FROM gained g'
        WHEN 'DELETE' THEN 'SELECT l.*, -1 AS sign FROM lost l'
        ELSE 'SELECT g.*, 1 AS sign FROM gained g UNION ALL SELECT l.*, -1 FROM lost l'
    END;
BEGIN
    EXECUTE format($sql$
        INSERT INTO document_statistics AS s
        SELECT statistics_month(filed_at), org_unit_code, document_type, business_process,
               customer_class, customer_status, sum(sign), sum(sign * page_count),
               sum(sign * size_bytes)::bigint
          FROM (%s) c
         GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(sign) <> 0 OR sum(sign * page_count) <> 0 OR sum(sign * size_bytes) <> 0
         ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (month, org_unit_code, document_type, business_process, customer_class,
                     customer_status)
        DO UPDATE SET documents = s.documents + EXCLUDED.documents,
                      pages = s.pages + EXCLUDED.pages,
                      bytes = s.bytes + EXCLUDED.bytes
    $sql$, changes);
    EXECUTE format($sql$
        INSERT INTO document_totals AS s
        SELECT statistics_month(filed_at), org_unit_code, document_type, business_process,
               sum(sign), sum(sign * page_count), sum(sign * size_bytes)::bigint
          FROM (%s) c
         GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0 OR sum(sign * page_count) <> 0 OR sum(sign * size_bytes) <> 0
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, org_unit_code, document_type, business_process)
        DO UPDATE SET documents = s.documents + EXCLUDED.documents,
                      pages = s.pages + EXCLUDED.pages,
                      bytes = s.bytes + EXCLUDED.bytes
    $sql$, changes);
    RETURN NULL;
END;
$$;

-- One trigger per event: a trigger with transition tables may have only one.
CREATE TRIGGER statistics_document_index_insert AFTER INSERT ON document_index
    REFERENCING NEW TABLE AS gained
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_document_index();
CREATE TRIGGER statistics_document_index_update AFTER UPDATE ON document_index
    REFERENCING OLD TABLE AS lost NEW TABLE AS gained
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_document_index();
CREATE TRIGGER statistics_document_index_delete AFTER DELETE ON document_index
    REFERENCING OLD TABLE AS lost
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_document_index();

-- The archives the same way: two accounts moving between the same two units at once take
-- the units' rows in one order.
DROP TRIGGER statistics_customers ON customers;
DROP FUNCTION statistics_on_customer();
DROP FUNCTION statistics_add_archive(text, text, text, integer);

CREATE FUNCTION statistics_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($sql$
        INSERT INTO archive_statistics AS s
        SELECT org_unit_code, customer_class, status, sum(sign)
          FROM (%s) c
         GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0
         ORDER BY 1, 2, 3
        ON CONFLICT (org_unit_code, customer_class, customer_status)
        DO UPDATE SET archives = s.archives + EXCLUDED.archives
    $sql$, CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT g.*, 1 AS sign FROM gained g'
        WHEN 'DELETE' THEN 'SELECT l.*, -1 AS sign FROM lost l'
        ELSE 'SELECT g.*, 1 AS sign FROM gained g UNION ALL SELECT l.*, -1 FROM lost l'
    END);
    RETURN NULL;
END;
$$;

CREATE TRIGGER statistics_customers_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS gained
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_customer();
CREATE TRIGGER statistics_customers_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS lost NEW TABLE AS gained
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_customer();
CREATE TRIGGER statistics_customers_delete AFTER DELETE ON customers
    REFERENCING OLD TABLE AS lost
    FOR EACH STATEMENT EXECUTE FUNCTION statistics_on_customer();

-- A document's archive index row changes in place (see above).
CREATE OR REPLACE FUNCTION document_index_refresh(target uuid) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    fresh document_index%ROWTYPE;
    kept  document_index%ROWTYPE;
BEGIN
    -- A share lock on the customer: a concurrent move of the account waits for this commit
    -- (or this one for the move), so the row never keeps the unit the account just left.
    PERFORM 1 FROM customers c JOIN documents d ON d.account_number = c.account_number
     WHERE d.document_id = target FOR SHARE OF c;
    SELECT d.document_id, d.account_number, c.org_unit_code, c.customer_class, c.status,
           v.document_type, v.business_process, v.work_order_number, d.source_system,
           d.legacy_reference, d.filed_at, d.original_at, s.page_count, s.size_bytes
      INTO fresh
      FROM documents d
      JOIN customers c ON c.account_number = d.account_number
      JOIN document_versions v ON v.document_id = d.document_id AND v.version = d.current_version
      CROSS JOIN LATERAL (
          SELECT count(*)::integer AS page_count, coalesce(sum(pc.size_bytes), 0)::bigint AS size_bytes
            FROM pages p JOIN page_contents pc ON pc.sha256 = p.sha256
           WHERE p.document_id = d.document_id AND p.version = d.current_version
      ) s
     WHERE d.document_id = target AND d.destroyed_at IS NULL;
    IF NOT FOUND THEN
        DELETE FROM document_index WHERE document_id = target;
        RETURN;
    END IF;
    SELECT * INTO kept FROM document_index WHERE document_id = target FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO document_index SELECT (fresh).*;
    ELSIF kept IS DISTINCT FROM fresh THEN
        UPDATE document_index
           SET account_number = fresh.account_number, org_unit_code = fresh.org_unit_code,
               customer_class = fresh.customer_class, customer_status = fresh.customer_status,
               document_type = fresh.document_type, business_process = fresh.business_process,
               work_order_number = fresh.work_order_number,
               source_system = fresh.source_system, legacy_reference = fresh.legacy_reference,
               filed_at = fresh.filed_at, original_at = fresh.original_at,
               page_count = fresh.page_count, size_bytes = fresh.size_bytes
         WHERE document_id = target;
    END IF;
END;
$$;

-- What was there before this migration, in key order: a period's rows lie together, as the
-- rows added month by month will.
INSERT INTO document_statistics
SELECT statistics_month(filed_at), org_unit_code, document_type, business_process,
       customer_class, customer_status, count(*), sum(page_count), sum(size_bytes)
  FROM document_index
 GROUP BY 1, 2, 3, 4, 5, 6
 ORDER BY 1, 2, 3, 4, 5, 6;

INSERT INTO document_totals
SELECT month, org_unit_code, document_type, business_process,
       sum(documents), sum(pages), sum(bytes)
  FROM document_statistics
 GROUP BY 1, 2, 3, 4
 ORDER BY 1, 2, 3, 4;
