-- Orphan page objects (written by filings that then failed, so no page row refers to them) are
-- queued for deletion like a disposal's, without a list: see src/storage/database/orphans.rs.
ALTER TABLE content_destructions ALTER COLUMN list_id DROP NOT NULL;

-- When each background job that should run once per interval across all replicas last started.
CREATE TABLE upkeep_runs (
    job        text PRIMARY KEY,
    last_start timestamptz NOT NULL
);
