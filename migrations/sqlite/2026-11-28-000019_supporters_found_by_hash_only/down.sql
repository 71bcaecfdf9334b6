-- Back to a unique address over every row (as an index: the same rule as
-- the column's UNIQUE, without rebuilding the table again).
DROP INDEX IF EXISTS supporters_email_clear;
CREATE UNIQUE INDEX supporters_email_unique ON supporters(email);
