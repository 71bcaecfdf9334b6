-- The shared signing limit's leases (issue 16) are PostgreSQL's alone: on
-- SQLite one process serves and keeps its limit in memory. The version exists
-- so both trees match.
SELECT 1;
