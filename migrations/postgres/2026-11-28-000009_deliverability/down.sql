DROP TABLE inbound_reports;
DROP TABLE alert_domain_pauses;
ALTER TABLE alerts DROP COLUMN paused_at;
ALTER TABLE alerts DROP COLUMN paused_reason;
ALTER TABLE supporters DROP COLUMN unsubscribe_reason;
DROP INDEX deliveries_held;
ALTER TABLE deliveries DROP COLUMN reply_class;
ALTER TABLE deliveries DROP COLUMN domain;
