DROP TABLE alert_audience;
DROP INDEX alerts_scheduled;
ALTER TABLE alerts DROP COLUMN approved_at;
ALTER TABLE alerts DROP COLUMN approved_by;
ALTER TABLE alerts DROP COLUMN send_requested_by;
ALTER TABLE alerts DROP COLUMN updated_by_key;
ALTER TABLE alerts DROP COLUMN created_by_key;
ALTER TABLE alerts DROP COLUMN send_by;
ALTER TABLE alerts DROP COLUMN send_at;
