-- Several nodes (contract §12) need PostgreSQL: the shared signing limit and
-- the workers' wake-ups (LISTEN/NOTIFY) live only there. On SQLite, one
-- process serves and sends, its limit is kept in memory and it wakes its own
-- worker, so nothing changes here; the version exists so both trees match.
SELECT 1;
