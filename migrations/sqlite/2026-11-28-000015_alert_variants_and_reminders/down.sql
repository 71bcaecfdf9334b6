DROP INDEX signatures_to_remind;
ALTER TABLE signatures DROP COLUMN reminded_at;
DROP TABLE alert_variants;
ALTER TABLE alerts DROP COLUMN locale;
