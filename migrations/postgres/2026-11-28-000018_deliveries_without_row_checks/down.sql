ALTER TABLE deliveries ADD CONSTRAINT deliveries_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_supporter_id_fkey FOREIGN KEY (supporter_id) REFERENCES supporters(id);
