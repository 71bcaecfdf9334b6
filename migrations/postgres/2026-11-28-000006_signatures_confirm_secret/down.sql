ALTER TABLE signatures DROP COLUMN confirm_secret_hash;
