-- Paper originals (实体档案): where each document's paper is kept, who has it out, and which
-- were lost. Nothing here is updated in place except a sign-out's closing and the `current`
-- flag of a location revision; nothing is deleted.

-- Every revision of a paper's location; the latest is `current`. Born-digital records have a
-- revision with `exists_on_paper` false and no place.
CREATE TABLE paper_locations (
    document_id     uuid NOT NULL REFERENCES documents (document_id),
    revision        integer NOT NULL CHECK (revision >= 1),
    exists_on_paper boolean NOT NULL,
    room            text,
    shelf           text,
    box             text,
    item            text,
    set_by          text NOT NULL,
    set_time        timestamptz NOT NULL,
    reason          text NOT NULL,
    current         boolean NOT NULL,
    PRIMARY KEY (document_id, revision),
    CHECK (exists_on_paper = (room IS NOT NULL AND shelf IS NOT NULL)),
    CHECK (exists_on_paper OR (box IS NULL AND item IS NULL))
);

CREATE UNIQUE INDEX paper_locations_current ON paper_locations (document_id) WHERE current;
-- A stocktake reads one shelf (or box) of one room.
CREATE INDEX paper_locations_place ON paper_locations (room, shelf, box) WHERE current;

-- Sign-outs: open until signed in (or closed by a loss).
CREATE TABLE paper_sign_outs (
    sign_out_id     uuid PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents (document_id),
    holder_name     text NOT NULL,
    holder_org_unit text,
    holder_contact  text,
    due_time        timestamptz NOT NULL,
    loan_id         uuid REFERENCES loans (loan_id),
    signed_out_by   text NOT NULL,
    sign_out_time   timestamptz NOT NULL,
    signed_in_by    text,
    sign_in_time    timestamptz,
    condition       text CHECK (condition IN ('complete', 'damaged', 'pages_missing', 'lost')),
    sign_in_note    text,
    CHECK ((sign_in_time IS NULL) = (condition IS NULL))
);

-- A paper cannot be signed out twice: at most one open sign-out per document, whoever races.
CREATE UNIQUE INDEX paper_sign_outs_open ON paper_sign_outs (document_id)
    WHERE sign_in_time IS NULL;
CREATE INDEX paper_sign_outs_due ON paper_sign_outs (due_time) WHERE sign_in_time IS NULL;
CREATE INDEX paper_sign_outs_by_document ON paper_sign_outs (document_id, sign_out_time);
CREATE INDEX paper_sign_outs_by_time ON paper_sign_outs (sign_out_time);

-- Losses: a lost paper stays lost on record (finding it again is not modelled yet).
CREATE TABLE paper_losses (
    document_id uuid PRIMARY KEY REFERENCES documents (document_id),
    reported_by text NOT NULL,
    report_time timestamptz NOT NULL,
    note        text NOT NULL
);

CREATE FUNCTION refuse_custody_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the custody of paper originals is kept permanently: % on % is refused',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER keep_paper_sign_outs BEFORE DELETE ON paper_sign_outs
    FOR EACH ROW EXECUTE FUNCTION refuse_custody_deletion();
CREATE TRIGGER keep_paper_losses BEFORE DELETE ON paper_losses
    FOR EACH ROW EXECUTE FUNCTION refuse_custody_deletion();
CREATE TRIGGER keep_paper_locations BEFORE DELETE ON paper_locations
    FOR EACH ROW EXECUTE FUNCTION refuse_custody_deletion();
