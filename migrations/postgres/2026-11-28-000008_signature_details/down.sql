-- The forgotten tokens cannot come back; nothing needs them.
SELECT 1;
