DROP INDEX deliveries_leased;
DROP INDEX deliveries_queued;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_kind_due ON deliveries(kind, status, next_attempt_at);
