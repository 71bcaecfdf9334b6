-- PostgreSQL drops the per-row foreign-key checks of deliveries here (see
-- migrations/postgres); SQLite keeps them, as they cost it little.
SELECT 1;
