-- Confidentiality per document type: a role sees a document only if its clearance reaches the
-- type's level (0 public, 1 internal, 2 confidential).
ALTER TABLE document_types
    ADD COLUMN confidentiality smallint NOT NULL DEFAULT 1 CHECK (confidentiality BETWEEN 0 AND 2);

UPDATE document_types SET confidentiality = 0
    WHERE code IN ('notice', 'tariff-change-record', 'business-licence');
UPDATE document_types SET confidentiality = 2
    WHERE code IN ('identity-proof', 'property-certificate', 'power-of-attorney');
