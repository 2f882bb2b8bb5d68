-- The archive index (档案索引): one row per live (not destroyed) document with what
-- SearchDocuments filters and sorts on, gathered from documents, their current version and
-- their customer, so that every filter shape is one index on one table.
--
-- Kept by triggers in the transaction of every change that moves a row: a filing, a
-- correction (a new current version, perhaps of another type or process), a destruction,
-- and a customer moving unit, changing class or closing. Triggers rather than calls in each
-- storage module: a write path added later cannot forget the index.
--
-- Org unit and account number are compared bytewise (COLLATE "C"): subtree and prefix
-- filters are ranges over digits, whatever the database's collation.
CREATE TABLE document_index (
    document_id       uuid PRIMARY KEY REFERENCES documents (document_id),
    account_number    text COLLATE "C" NOT NULL,
    org_unit_code     text COLLATE "C" NOT NULL,
    customer_class    text NOT NULL,
    customer_status   text NOT NULL,
    document_type     text NOT NULL,
    business_process  text NOT NULL,
    work_order_number text NOT NULL,
    source_system     text NOT NULL,
    legacy_reference  text,
    filed_at          timestamptz NOT NULL,
    original_at       timestamptz NOT NULL,
    -- The current version's pages: what the statistics count.
    page_count        integer NOT NULL,
    size_bytes        bigint NOT NULL
);

-- One index per filter shape (see README "Finding aids"); each ends in the sort key so a
-- page is read in order and stops at its limit.
-- A unit (or subtree) and one type over a period: the selective custodian query.
CREATE INDEX document_index_unit_type_idx
    ON document_index (org_unit_code, document_type, filed_at DESC, document_id DESC);
-- A whole unit or subtree, newest first.
CREATE INDEX document_index_unit_idx
    ON document_index (org_unit_code, filed_at DESC, document_id DESC);
-- Everything newest first (scope all, or a subtree that is most of the archive).
CREATE INDEX document_index_filed_idx ON document_index (filed_at DESC, document_id DESC);
-- One type or one process across a broad reach.
CREATE INDEX document_index_type_idx
    ON document_index (document_type, filed_at DESC, document_id DESC);
CREATE INDEX document_index_process_idx
    ON document_index (business_process, filed_at DESC, document_id DESC);
-- Point lookups: a work order, a legacy reference number (档号).
CREATE INDEX document_index_work_order_idx ON document_index (work_order_number)
    WHERE work_order_number <> '';
CREATE INDEX document_index_legacy_reference_idx ON document_index (legacy_reference)
    WHERE legacy_reference IS NOT NULL;
-- One source system's filings, newest first.
CREATE INDEX document_index_source_idx
    ON document_index (source_system, filed_at DESC, document_id DESC);
-- Original date ranges (imports reach back decades).
CREATE INDEX document_index_original_idx ON document_index (original_at);
-- Reference order (account, then filing time), and the own-account reach.
CREATE INDEX document_index_reference_idx
    ON document_index (account_number, filed_at, document_id);

-- Brings one document's row up to date with its tables: inserted, changed, or removed when
-- the document is destroyed. Idempotent, so it may run more than once per transaction.
CREATE FUNCTION document_index_refresh(target uuid) RETURNS void LANGUAGE plpgsql AS $$
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
        DELETE FROM document_index WHERE document_id = target;
        INSERT INTO document_index SELECT (fresh).*;
    END IF;
END;
$$;

CREATE FUNCTION document_index_on_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM document_index_refresh(NEW.document_id);
    RETURN NULL;
END;
$$;

-- Deferred to the commit: a filing writes the document, then its version, then its pages,
-- and the row needs all three.
CREATE CONSTRAINT TRIGGER document_index_documents
    AFTER INSERT OR UPDATE OF current_version, destroyed_at, original_at, legacy_reference
    ON documents DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION document_index_on_document();

CREATE CONSTRAINT TRIGGER document_index_versions
    AFTER INSERT ON document_versions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION document_index_on_document();

-- A customer's unit, class or status is copied onto each of its documents' rows.
CREATE FUNCTION document_index_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.org_unit_code, NEW.customer_class, NEW.status)
       IS DISTINCT FROM (OLD.org_unit_code, OLD.customer_class, OLD.status) THEN
        UPDATE document_index
           SET org_unit_code = NEW.org_unit_code, customer_class = NEW.customer_class,
               customer_status = NEW.status
         WHERE account_number = NEW.account_number;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER document_index_customers AFTER UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION document_index_on_customer();

-- The documents filed before this migration.
INSERT INTO document_index
SELECT d.document_id, d.account_number, c.org_unit_code, c.customer_class, c.status,
       v.document_type, v.business_process, v.work_order_number, d.source_system,
       d.legacy_reference, d.filed_at, d.original_at, s.page_count, s.size_bytes
  FROM documents d
  JOIN customers c ON c.account_number = d.account_number
  JOIN document_versions v ON v.document_id = d.document_id AND v.version = d.current_version
  CROSS JOIN LATERAL (
      SELECT count(*)::integer AS page_count, coalesce(sum(pc.size_bytes), 0)::bigint AS size_bytes
        FROM pages p JOIN page_contents pc ON pc.sha256 = p.sha256
       WHERE p.document_id = d.document_id AND p.version = d.current_version
  ) s
 WHERE d.destroyed_at IS NULL;
