-- Scan quality at ingest (DA/T 31): the rules each document type's pages are judged against,
-- and the result per page.
--
-- `scan_rules` holds one rule per document type; a type without a row is judged by the
-- default (200 dpi, any format, colour not required, never refused). `refuse_on_warning`
-- turns a warning into a refused filing, for a utility that wants that.
CREATE TABLE scan_rules (
    document_type       text PRIMARY KEY REFERENCES document_types (code),
    min_dpi             integer NOT NULL CHECK (min_dpi BETWEEN 0 AND 4800),
    colour_required     boolean NOT NULL DEFAULT false,
    allowed_media_types text[] NOT NULL
        DEFAULT '{image/jpeg,image/png,image/tiff,application/pdf}'
        CHECK (allowed_media_types <@ '{image/jpeg,image/png,image/tiff,application/pdf}'
               AND cardinality(allowed_media_types) > 0),
    refuse_on_warning   boolean NOT NULL DEFAULT false
);

-- DA/T 31's general minimum is 200 dpi. 300 dpi for the two types whose text is small:
-- a supply contract's printed terms and an ID card's few square centimetres. Colour for the
-- types that carry red seals (公章) or red headers, which a grey scan turns into grey smudges:
-- the supply contract, the business licence, the power of attorney, the property certificate.
INSERT INTO scan_rules (document_type, min_dpi, colour_required)
SELECT code,
       CASE WHEN code IN ('supply-contract', 'identity-proof') THEN 300 ELSE 200 END,
       code IN ('supply-contract', 'business-licence', 'power-of-attorney', 'property-certificate')
FROM document_types;

-- The result per page, judged from the page's header at filing against its type's rule: the
-- reasons of its warnings, empty when it passed, NULL for a page filed before these checks.
ALTER TABLE pages ADD COLUMN scan_warnings text[];

-- Whether a content's page is blank (near-uniform): set by the rendition worker, which
-- decodes the page anyway; NULL until it has.
ALTER TABLE page_contents ADD COLUMN blank boolean;
