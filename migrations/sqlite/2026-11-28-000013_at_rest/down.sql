DROP TABLE data_keys;
DROP INDEX supporters_unsealed;
DROP INDEX supporters_email_hash;
ALTER TABLE supporters DROP COLUMN email_domain;
ALTER TABLE supporters DROP COLUMN email_hash;
