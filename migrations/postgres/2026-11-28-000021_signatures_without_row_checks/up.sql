-- Each signing batch writes a supporter, a signature and its confirmation
-- mail per new signer. PostgreSQL checked every signature against its
-- petition and its supporter, and every mail against its signature: a
-- lookup, a row lock (FOR KEY SHARE) and its WAL record per check, three a
-- signature. None can fail where the rows are made:
-- * petitions are never deleted, and a signing batch reads its petition's
--   status in its own transaction;
-- * a new signer's supporter is inserted by the same batch; a known one is
--   locked FOR KEY SHARE when found (`db::backend::hold_supporter`), and the
--   sweep of expired signatures, the one place supporters are deleted,
--   locks them FOR UPDATE first (skipping any in use) and deletes only
--   those nothing holds;
-- * a signature's mails are queued in the transaction that makes, renews or
--   marks it, and the sweep locks each signature FOR UPDATE (skipping any in
--   use) before it deletes its mails and then it; a mail whose signature is
--   gone would be cancelled by the worker, never sent.
-- The columns stay; only the per-row checks go, as for deliveries (000018).
ALTER TABLE signatures DROP CONSTRAINT IF EXISTS signatures_petition_id_fkey;
ALTER TABLE signatures DROP CONSTRAINT IF EXISTS signatures_supporter_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_signature_id_fkey;

-- Three index entries fewer per signature:
-- * every query by petition and status pages, counts or groups in
--   signatures_petition_status_id's order (ids are UUIDv7, made in signing
--   order), none in signed_at's;
-- * one supporter's signatures are found by the unique key when it leads
--   with the supporter (it serves "this petition, this supporter" either way);
-- * links by stored token hash are only those mailed before tokens were
--   derived: new signatures have none, and no longer get an index entry.
DROP INDEX IF EXISTS signatures_petition_status;
ALTER TABLE signatures ADD CONSTRAINT signatures_supporter_petition UNIQUE (supporter_id, petition_id);
ALTER TABLE signatures DROP CONSTRAINT signatures_petition_id_supporter_id_key;
DROP INDEX IF EXISTS signatures_supporter;
ALTER TABLE signatures DROP CONSTRAINT signatures_confirm_token_hash_key;
CREATE UNIQUE INDEX signatures_confirm_token_hash ON signatures(confirm_token_hash)
    WHERE confirm_token_hash IS NOT NULL;

-- A confirmation or receipt mail belongs to no alert: "one delivery per
-- alert and supporter" holds for alert mail only, and the others no longer
-- get an index entry for it.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_alert_id_supporter_id_key;
CREATE UNIQUE INDEX deliveries_alert_supporter ON deliveries(alert_id, supporter_id)
    WHERE alert_id IS NOT NULL;
