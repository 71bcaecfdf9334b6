CREATE INDEX deliveries_alert_status ON deliveries(alert_id, status);
DROP TRIGGER deliveries_progress_delete ON deliveries;
DROP TRIGGER deliveries_progress_update ON deliveries;
DROP TRIGGER deliveries_progress_insert ON deliveries;
DROP FUNCTION clarion_alert_progress();
DROP FUNCTION clarion_progress_keys(deliveries);
DROP TABLE alert_progress;
DROP INDEX deliveries_leased;
CREATE INDEX deliveries_leased ON deliveries(locked_until) WHERE status = 'sending';
