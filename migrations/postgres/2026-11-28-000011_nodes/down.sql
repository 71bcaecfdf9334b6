DROP TRIGGER deliveries_notify_unheld ON deliveries;
DROP FUNCTION clarion_mail_queued();
DROP FUNCTION clarion_sign_limit(TEXT[], INTEGER[], INTEGER);
DROP TABLE sign_limits;
