-- The sweep of pending signatures whose confirmation time ran out looks
-- only at pending rows: a partial index keeps confirmed ones out of it.
CREATE INDEX signatures_pending_expiry ON signatures(expires_at) WHERE status = 'pending';
