-- A content too large to render (over `renditions.max_page_bytes`, or an image whose header
-- claims more than `renditions.max_pixels`) ends 'skipped', with `rendition_failure` saying
-- which limit: neither 'failed' (its bytes may be fine) nor retried. `backfill-renditions
-- --retry-failed` queues skipped contents again, for after a limit is raised.
--
-- NOT VALID skips a scan of page_contents under this statement's lock: every existing row
-- passed the old CHECK, whose values this one includes, and new rows are checked as ever.
ALTER TABLE page_contents
    DROP CONSTRAINT page_contents_rendition_state_check,
    ADD CONSTRAINT page_contents_rendition_state_check
        CHECK (rendition_state IN ('pending', 'ready', 'failed', 'skipped')) NOT VALID;
