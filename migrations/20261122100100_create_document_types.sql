-- The document type catalog (档案类别): retention and personal-data flags per type.
CREATE TABLE document_types (
    code                   text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{0,62}$'),
    display_name           text NOT NULL,
    chinese_name           text NOT NULL,
    retention_class        text NOT NULL CHECK (retention_class IN ('permanent', '30_years', '10_years')),
    contains_personal_data boolean NOT NULL
);
