DROP TABLE sign_in_failures;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE api_tokens DROP COLUMN expires_at;
DROP TABLE sessions;
