-- Console sessions, checked on every request: only a SHA-256 of the session
-- id is kept, so reading this table lets nobody present a session. Signing
-- out, disabling or deleting a user and changing a role delete rows here.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Tokens may expire; a disabled user cannot sign in.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP;
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- Failed console sign-ins, per client IP, per address and per address from
-- one IP, each keyed by a keyed hash (HMAC under the secret key) so that
-- known and unknown addresses are counted alike and none is stored.
CREATE TABLE sign_in_failures (
    key_hash TEXT PRIMARY KEY,
    address_hash TEXT,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
CREATE INDEX sign_in_failures_address_hash ON sign_in_failures (address_hash);
