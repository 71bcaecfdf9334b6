-- Every query by petition and status pages, counts or groups in
-- signatures_petition_status_id's order (ids are UUIDv7, made in signing
-- order), none in signed_at's: one index entry fewer per signature. SQLite
-- keeps its foreign-key checks and its unique keys, which are part of the
-- table (see migrations/postgres for what PostgreSQL drops here).
DROP INDEX IF EXISTS signatures_petition_status;
