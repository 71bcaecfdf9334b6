DROP INDEX IF EXISTS supporters_email_clear;
ALTER TABLE supporters ADD CONSTRAINT supporters_email_key UNIQUE (email);
