-- Claims look for due deliveries of one kind (confirmations before a big
-- alert): without kind in the index they walk every queued alert row.
CREATE INDEX deliveries_kind_due ON deliveries(kind, status, next_attempt_at);
