-- The audit trail is append-only: no statement may change or remove an event, whoever runs it.
-- A role that owns the table could still disable these triggers (a deliberate, visible act of
-- DDL); the signed checkpoints of the chain head in the object store catch what it does then.
-- In production the service runs as a role that does not own the table (README, "Database
-- roles"), so it cannot disable them either.
CREATE FUNCTION refuse_audit_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on audit_events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER guard_audit_event_rows
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_event_change();

CREATE TRIGGER guard_audit_event_table
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_event_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
