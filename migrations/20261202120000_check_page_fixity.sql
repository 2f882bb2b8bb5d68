-- Fixity: each page content is re-read and re-hashed against its address now and then
-- (src/domain/documents/fixity.rs). `check_time` is the last check (NULL: never checked),
-- `check_failure` what it found wrong (NULL: the object was whole).
ALTER TABLE page_contents
    ADD COLUMN check_time    timestamptz,
    ADD COLUMN check_failure text;

CREATE INDEX page_contents_check_time_idx ON page_contents (check_time NULLS FIRST);
CREATE INDEX page_contents_check_failure_idx ON page_contents (sha256)
    WHERE check_failure IS NOT NULL;
