-- The audit trail: one row per RPC, reads and denials included.
--
-- Rows form one hash chain: `seq` has no gaps, and `hash` is an HMAC (keyed by a secret the
-- service holds, not the database) over `prev_hash` and the row's content. Appends take the
-- advisory lock below inside their transaction, so several server replicas still write a single
-- chain. An UPDATE, DELETE or reordering of rows breaks the chain at that `seq`, and without the
-- key nobody can recompute it.
CREATE TABLE audit_events (
    seq          bigint PRIMARY KEY CHECK (seq >= 1),
    occurred_at  timestamptz NOT NULL,
    system       text NOT NULL,
    person       text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    resource     text NOT NULL,
    account      text,
    document_id  uuid,
    outcome      text NOT NULL,
    request_id   text NOT NULL,
    -- JSON text, kept byte for byte as hashed (jsonb would reorder it).
    details      text,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);

CREATE INDEX audit_events_account_idx ON audit_events (account, seq) WHERE account IS NOT NULL;
CREATE INDEX audit_events_document_idx ON audit_events (document_id, seq) WHERE document_id IS NOT NULL;
CREATE INDEX audit_events_person_idx ON audit_events (person, seq);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);
