-- Each version knows its page count and size, so that a listing in the basic view (no page
-- list) reads the version rows alone instead of gathering every page of every document.
ALTER TABLE document_versions
    ADD COLUMN page_count integer,
    ADD COLUMN size_bytes bigint;

UPDATE document_versions v
SET page_count = s.page_count, size_bytes = s.size_bytes
FROM (
    SELECT p.document_id, p.version, count(*) AS page_count, sum(c.size_bytes) AS size_bytes
    FROM pages p
    JOIN page_contents c ON c.sha256 = p.sha256
    GROUP BY p.document_id, p.version
) s
WHERE s.document_id = v.document_id AND s.version = v.version;

UPDATE document_versions SET page_count = 0, size_bytes = 0 WHERE page_count IS NULL;

ALTER TABLE document_versions
    ALTER COLUMN page_count SET NOT NULL,
    ALTER COLUMN size_bytes SET NOT NULL,
    ADD CHECK (page_count >= 0 AND size_bytes >= 0);
