-- The rules that make the archive an archive: versions with their authors, the customer's
-- history, retention, legal holds and two-person disposal.

-- Who made each version and why. Version 1 is the filing; later ones are corrections.
ALTER TABLE document_versions
    ADD COLUMN author_system text NOT NULL DEFAULT '',
    ADD COLUMN author_person text NOT NULL DEFAULT '',
    ADD COLUMN reason        text NOT NULL DEFAULT '';

-- The customer's history: every state the account has been in, so that what the account looked
-- like when a document was filed stays answerable after a rename, a transfer or a class change.
-- Written by a trigger so that no path that changes a customer can skip it.
CREATE TABLE customer_revisions (
    account_number text NOT NULL REFERENCES customers (account_number),
    revision       integer NOT NULL CHECK (revision >= 1),
    display_name   text NOT NULL,
    customer_class text NOT NULL,
    org_unit_code  text NOT NULL,
    status         text NOT NULL,
    id_number      text,
    phone          text,
    address        text,
    -- From this time until the next revision's.
    valid_from     timestamptz NOT NULL,
    -- `custodian.changed_by` of the changing transaction: "system/person".
    changed_by     text NOT NULL DEFAULT '',
    PRIMARY KEY (account_number, revision)
);

ALTER TABLE customers
    ADD COLUMN revision  integer NOT NULL DEFAULT 1,
    -- When the account was closed: the retention trigger of types kept from closure.
    ADD COLUMN closed_at timestamptz;

-- BEFORE: the revision number and the closure time land in the row itself.
CREATE FUNCTION customers_stamp_revision() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    IF NEW.status = 'closed' AND (TG_OP = 'INSERT' OR OLD.status <> 'closed') THEN
        NEW.closed_at := NEW.update_time;
    ELSIF NEW.status <> 'closed' THEN
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER customers_stamp_revision BEFORE INSERT OR UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_stamp_revision();

-- AFTER: only a row that was really written (not a duplicate account) gets a revision.
CREATE FUNCTION customers_keep_history() RETURNS trigger AS $$
BEGIN
    INSERT INTO customer_revisions (account_number, revision, display_name, customer_class,
        org_unit_code, status, id_number, phone, address, valid_from, changed_by)
    VALUES (NEW.account_number, NEW.revision, NEW.display_name, NEW.customer_class,
        NEW.org_unit_code, NEW.status, NEW.id_number, NEW.phone, NEW.address, NEW.update_time,
        coalesce(current_setting('custodian.changed_by', true), ''));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER customers_keep_history AFTER INSERT OR UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_keep_history();

INSERT INTO customer_revisions (account_number, revision, display_name, customer_class,
    org_unit_code, status, id_number, phone, address, valid_from)
SELECT account_number, 1, display_name, customer_class, org_unit_code, status, id_number, phone,
    address, update_time
FROM customers;

-- The customer revision in force when the document was filed.
ALTER TABLE documents ADD COLUMN customer_revision integer NOT NULL DEFAULT 1;

-- Retention is counted from the filing date, or for the papers that prove who holds an account,
-- from the account's closure (kept as long as the account lives, then for the period).
ALTER TABLE document_types
    ADD COLUMN retention_trigger text NOT NULL DEFAULT 'filing'
        CHECK (retention_trigger IN ('filing', 'account_closure'));
UPDATE document_types SET retention_trigger = 'account_closure'
    WHERE code IN ('identity-proof', 'property-certificate', 'power-of-attorney');

-- Legal holds on a document or (document_id NULL) a whole account. Released holds stay as
-- history; a hold blocks disposal while release_time is NULL.
CREATE TABLE legal_holds (
    hold_id          uuid PRIMARY KEY,
    account_number   text NOT NULL REFERENCES customers (account_number),
    document_id      uuid REFERENCES documents (document_id),
    reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    placed_by        text NOT NULL,
    place_time       timestamptz NOT NULL,
    released_by      text,
    release_reason   text,
    release_time     timestamptz
);

CREATE INDEX legal_holds_active_idx ON legal_holds (account_number, document_id)
    WHERE release_time IS NULL;

-- Destruction lists (销毁清册): proposed by one custodian, approved by another. Kept forever.
CREATE TABLE destruction_lists (
    list_id         uuid PRIMARY KEY,
    org_unit_code   text NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    state           text NOT NULL CHECK (state IN ('proposed', 'destroyed', 'rejected')),
    proposed_by     text NOT NULL,
    proposer_person text NOT NULL,
    propose_time    timestamptz NOT NULL,
    decided_by      text,
    decide_time     timestamptz,
    decision_note   text
);

-- What each list destroys, copied at proposal so the list reads the same forever.
CREATE TABLE destruction_list_items (
    list_id         uuid NOT NULL REFERENCES destruction_lists (list_id),
    document_id     uuid NOT NULL REFERENCES documents (document_id),
    account_number  text NOT NULL,
    document_type   text NOT NULL,
    title           text NOT NULL,
    retention_class text NOT NULL,
    filed_at        timestamptz NOT NULL,
    expire_time     timestamptz NOT NULL,
    page_count      integer NOT NULL,
    PRIMARY KEY (list_id, document_id)
);

CREATE INDEX destruction_list_items_document_idx ON destruction_list_items (document_id);

-- A destroyed document keeps its row and metadata versions as its tombstone; its pages go.
ALTER TABLE documents
    ADD COLUMN destroyed_at        timestamptz,
    ADD COLUMN destruction_list_id uuid REFERENCES destruction_lists (list_id);

-- Page objects to delete after a disposal committed (an outbox: a crash between the commit and
-- the deletes loses nothing, the deletes are retried). A filing that brings the same content
-- back revives it: see src/storage/database/disposal.rs for the protocol.
CREATE TABLE content_destructions (
    sha256      bytea PRIMARY KEY,
    list_id     uuid NOT NULL REFERENCES destruction_lists (list_id),
    queue_time  timestamptz NOT NULL DEFAULT now(),
    delete_time timestamptz
);

CREATE INDEX content_destructions_pending_idx ON content_destructions (queue_time)
    WHERE delete_time IS NULL;
