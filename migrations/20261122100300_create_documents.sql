-- Documents, their versions and their pages.
--
-- A document is immutable once filed: `documents` holds what never changes (identity, archive,
-- filing request) and `document_versions` what a correction may change. A correction adds a
-- version and moves `current_version`; earlier versions and their pages stay.
--
-- Contract with the object store: page bytes are written to the store under their SHA-256
-- before the transaction that inserts these rows commits. So a row never points at a missing
-- object, while an interrupted filing can leave an object no row refers to (harmless: it is
-- invisible, and identical bytes filed later reuse it).
CREATE TABLE documents (
    document_id       uuid PRIMARY KEY,
    account_number    text NOT NULL REFERENCES customers (account_number),
    source_system     text NOT NULL,
    client_request_id text NOT NULL,
    filed_at          timestamptz NOT NULL DEFAULT now(),
    current_version   integer NOT NULL DEFAULT 1,
    -- A retried filing finds the first one instead of filing twice.
    UNIQUE (source_system, client_request_id)
);

-- An account's archive is listed newest first with a (filed_at, document_id) cursor.
CREATE INDEX documents_account_filed_idx ON documents (account_number, filed_at DESC, document_id DESC);

CREATE TABLE document_versions (
    document_id       uuid NOT NULL REFERENCES documents (document_id),
    version           integer NOT NULL CHECK (version >= 1),
    document_type     text NOT NULL REFERENCES document_types (code),
    business_process  text NOT NULL CHECK (business_process IN (
        'new_connection', 'capacity_increase', 'capacity_reduction', 'transfer', 'rename',
        'tariff_class_change', 'suspension', 'closure', 'inspection')),
    work_order_number text NOT NULL DEFAULT '',
    title             text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

ALTER TABLE documents ADD FOREIGN KEY (document_id, current_version)
    REFERENCES document_versions (document_id, version) DEFERRABLE INITIALLY DEFERRED;

-- One row per distinct page content: the object `pages/sha256/<hex>` in the store.
CREATE TABLE page_contents (
    sha256     bytea PRIMARY KEY CHECK (length(sha256) = 32),
    media_type text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png', 'image/tiff', 'application/pdf')),
    size_bytes bigint NOT NULL CHECK (size_bytes > 0),
    stored_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pages (
    document_id uuid NOT NULL,
    version     integer NOT NULL,
    page_number integer NOT NULL CHECK (page_number >= 1),
    sha256      bytea NOT NULL REFERENCES page_contents (sha256),
    PRIMARY KEY (document_id, version, page_number),
    FOREIGN KEY (document_id, version) REFERENCES document_versions (document_id, version)
);

-- Disposal must know whether any other page still uses a content.
CREATE INDEX pages_sha256_idx ON pages (sha256);
