-- Electronic loans (借阅): a named borrower asks for documents (some of their pages) or whole
-- archives, for a purpose and a period; another person approves (possibly lending less) or
-- rejects; the loan ends when returned, revoked or due. Whether a loan is in force is decided
-- against the service's clock on every read, never stored: `state` holds only the decisions.
-- Kept forever, like destruction lists: who read what under whose approval is the register's
-- subject, so rows are never deleted (the trigger below refuses it).
CREATE TABLE loans (
    loan_id           uuid PRIMARY KEY,
    -- "system/person" of the borrower, and the person alone: the approver must be another.
    borrower          text NOT NULL,
    borrower_person   text NOT NULL,
    borrower_role     text NOT NULL,
    borrower_org_unit text,
    purpose           text NOT NULL
        CHECK (purpose IN ('business_handling', 'audit', 'dispute', 'customer_service')),
    purpose_note      text NOT NULL,
    request_time      timestamptz NOT NULL,
    -- As requested, then as approved (an approval may shorten the period, never lengthen it).
    start_time        timestamptz NOT NULL,
    due_time          timestamptz NOT NULL,
    state             text NOT NULL
        CHECK (state IN ('requested', 'approved', 'rejected', 'returned', 'revoked')),
    -- Chosen at approval: whether the borrower sees personal data in full or masked.
    personal_data     text CHECK (personal_data IN ('full', 'masked')),
    decided_by        text,
    decide_time       timestamptz,
    decision_note     text,
    ended_by          text,
    end_time          timestamptz,
    end_note          text,
    CHECK (due_time > start_time)
);

CREATE INDEX loans_by_borrower ON loans (borrower, request_time);
CREATE INDEX loans_by_state ON loans (state, due_time);

-- What a loan asks for and what it lends: a document (some of its pages, or all when
-- `requested_pages` / `lent_pages` is NULL) or, with `document_id` NULL, a whole archive.
CREATE TABLE loan_items (
    loan_id          uuid NOT NULL REFERENCES loans (loan_id),
    position         integer NOT NULL,
    -- The loan's borrower again, so the read path's lookup is one index probe.
    borrower         text NOT NULL,
    account_number   text NOT NULL,
    document_id      uuid,
    requested_pages  integer[],
    -- Set by the approval: whether this item is lent, and which of its pages.
    lent             boolean NOT NULL DEFAULT false,
    lent_pages       integer[],
    PRIMARY KEY (loan_id, position)
);

-- The read path's one lookup: is this borrower lent this document (or its whole archive)?
CREATE INDEX loan_items_lent_to ON loan_items (borrower, account_number, document_id)
    WHERE lent;
CREATE INDEX loan_items_by_account ON loan_items (account_number);

CREATE FUNCTION refuse_loan_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loans are kept permanently: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER keep_loans BEFORE DELETE ON loans
    FOR EACH ROW EXECUTE FUNCTION refuse_loan_deletion();
CREATE TRIGGER keep_loan_items BEFORE DELETE ON loan_items
    FOR EACH ROW EXECUTE FUNCTION refuse_loan_deletion();
