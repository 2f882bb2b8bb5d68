-- Renditions of page contents: a thumbnail and a preview in JPEG, made off the filing path by
-- workers that claim jobs from `rendition_jobs` (see src/storage/database/renditions.rs).
--
-- `rendition_state` is what callers see on a page: NULL for a content stored before
-- renditions existed (the `backfill-renditions` command queues it), 'pending' while its job
-- waits, 'ready' once both renditions are stored, or 'failed' with `rendition_failure` saying
-- why (a body that does not decode behind a valid header, an unsupported variant).
ALTER TABLE page_contents
    ADD COLUMN rendition_state text CHECK (rendition_state IN ('pending', 'ready', 'failed')),
    ADD COLUMN rendition_failure text;

-- The durable queue: the filing's transaction inserts a job for each new content; a worker
-- claims one with FOR UPDATE SKIP LOCKED, pushing `next_attempt_at` past its lease, and
-- deletes it with the outcome. A worker that dies leaves the job to be claimed again when the
-- lease ends; one that fails for a passing reason pushes it back with a growing delay.
-- Destroying the content removes its job (and its renditions' rows) with it.
CREATE TABLE rendition_jobs (
    sha256          bytea PRIMARY KEY REFERENCES page_contents (sha256) ON DELETE CASCADE,
    queued_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Claims so far, the current one included.
    attempts        integer NOT NULL DEFAULT 0,
    -- The current claim: only its worker may finish the job.
    claim           uuid
);

CREATE INDEX rendition_jobs_due_idx ON rendition_jobs (next_attempt_at);

-- The renditions made of a content, each an object `renditions/{kind}/{xx}/{source sha256}.jpg`.
CREATE TABLE page_renditions (
    sha256           bytea NOT NULL REFERENCES page_contents (sha256) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('thumbnail', 'preview')),
    -- The digest of the rendition's own bytes, for callers to check.
    rendition_sha256 bytea NOT NULL CHECK (length(rendition_sha256) = 32),
    size_bytes       bigint NOT NULL CHECK (size_bytes > 0),
    width            integer NOT NULL CHECK (width > 0),
    height           integer NOT NULL CHECK (height > 0),
    made_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (sha256, kind)
);
