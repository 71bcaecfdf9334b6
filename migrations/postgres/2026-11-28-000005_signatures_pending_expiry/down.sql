DROP INDEX signatures_pending_expiry;
