-- A page object's deletion is recorded before the object is deleted (the protocol is in
-- src/storage/database/content_destructions.rs): `claim_time` says since when the object may be
-- gone, `delete_time` that it is. A deletion recorded and never finished (a crash, an outage)
-- keeps its claim, so no filing can take the content back while its object may be gone.
-- The code before this one stamps `delete_time` alone (no claim), which the new code reads as
-- claimed and deleted at that time: no constraint ties the two.
ALTER TABLE content_destructions ADD COLUMN claim_time timestamptz;

UPDATE content_destructions SET claim_time = delete_time WHERE delete_time IS NOT NULL;

