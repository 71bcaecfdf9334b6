-- Only queued deliveries are claimed and only leased ones reaped. Partial
-- indexes hold just those rows, not the sent history that makes up most of
-- the table, and a delivery moving on to 'sent' writes no entry into either:
-- fewer index writes for each message of a big send.
DROP INDEX deliveries_due;
DROP INDEX deliveries_kind_due;
CREATE INDEX deliveries_queued ON deliveries(kind, next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_leased ON deliveries(locked_until) WHERE status = 'sending';
