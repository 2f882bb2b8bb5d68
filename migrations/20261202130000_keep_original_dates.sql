-- Imported records keep the dates of the archive they come from (issue 14).
--
-- A document keeps two times: `filed_at`, when it entered Custodian, and `original_at`, when it
-- was formed or first filed in its source. Retention and appraisal count from `original_at`
-- (completeness orders by it); for documents filed natively both are the same.
ALTER TABLE documents
    ADD COLUMN original_at       timestamptz,
    -- The legacy reference number (档号) and the system or department it comes from, as given.
    ADD COLUMN legacy_reference  text CHECK (length(legacy_reference) BETWEEN 1 AND 100),
    ADD COLUMN legacy_system     text CHECK (length(legacy_system) BETWEEN 1 AND 64),
    -- Set when the document was imported into an account already closed: the closure its
    -- retention counts from (closure-triggered types), whatever reopening and closing follow.
    ADD COLUMN account_closed_at timestamptz;

UPDATE documents SET original_at = filed_at;
ALTER TABLE documents
    ALTER COLUMN original_at SET NOT NULL,
    ADD CHECK (original_at <= filed_at);

-- A row inserted without an original date (a native filing, a bulk load) was formed when filed.
CREATE FUNCTION documents_default_original_at() RETURNS trigger AS $$
BEGIN
    NEW.original_at := coalesce(NEW.original_at, NEW.filed_at);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER documents_default_original_at BEFORE INSERT ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_default_original_at();

-- Idempotent imports look a record up by its legacy identity.
CREATE INDEX documents_legacy_reference_idx ON documents (legacy_system, legacy_reference)
    WHERE legacy_reference IS NOT NULL;

-- An imported account keeps when it was opened in its source; NULL: when it was created here.
ALTER TABLE customers ADD COLUMN opened_at timestamptz;

-- A customer created closed may bring its own closure time (an imported account closed in its
-- source); every other closure is stamped with the time of the change, as before.
CREATE OR REPLACE FUNCTION customers_stamp_revision() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    IF NEW.status = 'closed' AND TG_OP = 'INSERT' THEN
        NEW.closed_at := coalesce(NEW.closed_at, NEW.update_time);
    ELSIF NEW.status = 'closed' AND OLD.status <> 'closed' THEN
        NEW.closed_at := NEW.update_time;
    ELSIF NEW.status <> 'closed' THEN
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- A destruction list keeps the date each item's retention counted from.
ALTER TABLE destruction_list_items RENAME COLUMN filed_at TO original_at;
