-- A correction that lowers a document's confidentiality (retyping an identity proof as a public
-- notice) needs a second person: another custodian approves that very change of that very
-- version first, and the correction uses the approval in its own transaction. Kept forever,
-- like destruction lists: who let a confidential record become readable is part of its history.
CREATE TABLE declassification_approvals (
    approval_id        uuid PRIMARY KEY,
    document_id        uuid NOT NULL REFERENCES documents (document_id),
    -- The version the approval is for; a correction of any other version cannot use it.
    version            integer NOT NULL,
    from_document_type text NOT NULL REFERENCES document_types (code),
    document_type      text NOT NULL REFERENCES document_types (code),
    reason             text NOT NULL,
    -- "system/person", and the person alone: the corrector must be someone else.
    approved_by        text NOT NULL,
    approver_person    text NOT NULL,
    approve_time       timestamptz NOT NULL,
    expire_time        timestamptz NOT NULL,
    -- Set by the correction that used it, which then made version `used_in_version`.
    used_in_version    integer,
    CHECK (expire_time > approve_time)
);

CREATE INDEX declassification_approvals_by_document
    ON declassification_approvals (document_id, version);
