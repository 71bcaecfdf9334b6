-- Clarion's whole domain schema. The SQLite twin of this file has the same
-- tables and columns; types are chosen from those both backends share
-- (UUIDs as text, times as TIMESTAMP in UTC, booleans, bigints).

CREATE TABLE app_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    subject_name TEXT,
    country TEXT,
    body TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE petitions (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    goal BIGINT,
    status TEXT NOT NULL DEFAULT 'open',
    require_confirmation BOOLEAN NOT NULL DEFAULT 1,
    -- counter caches, kept in the transaction that confirms a signature, so
    -- public pages never count rows per request; they never go down
    confirmed_count BIGINT NOT NULL DEFAULT 0,
    pending_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX petitions_case_id ON petitions(case_id);

CREATE TABLE petition_country_counts (
    petition_id TEXT NOT NULL REFERENCES petitions(id),
    country TEXT NOT NULL,
    confirmed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (petition_id, country)
);

CREATE TABLE supporters (
    id TEXT PRIMARY KEY,
    -- normalised (trimmed, lowercased); NULL once erased
    email TEXT UNIQUE,
    first_name TEXT,
    last_name TEXT,
    country TEXT,
    postcode TEXT,
    locale TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    email_opt_in BOOLEAN NOT NULL DEFAULT 0,
    consent_at TIMESTAMP,
    consent_wording TEXT,
    consent_source TEXT,
    unsubscribed_at TIMESTAMP,
    bounced_at TIMESTAMP,
    erased_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE lists (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE list_members (
    list_id TEXT NOT NULL REFERENCES lists(id),
    supporter_id TEXT NOT NULL REFERENCES supporters(id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (list_id, supporter_id)
);
CREATE INDEX list_members_supporter ON list_members(supporter_id);

CREATE TABLE signatures (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions(id),
    supporter_id TEXT NOT NULL REFERENCES supporters(id),
    status TEXT NOT NULL DEFAULT 'pending',
    -- copied at signing time: counts by country survive erasure
    country TEXT NOT NULL,
    postcode TEXT,
    comment TEXT,
    email_opt_in BOOLEAN NOT NULL DEFAULT 0,
    -- keyed hash (HMAC) of the client IP; never the address itself
    ip_hash TEXT,
    -- SHA-256 of the confirmation token; the token itself is only in the mail
    confirm_token_hash TEXT UNIQUE,
    locale TEXT,
    signed_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    expires_at TIMESTAMP,
    UNIQUE (petition_id, supporter_id)
);
CREATE INDEX signatures_petition_status ON signatures(petition_id, status, signed_at);
CREATE INDEX signatures_supporter ON signatures(supporter_id);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    petition_id TEXT REFERENCES petitions(id),
    subject TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    recipients BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    send_started_at TIMESTAMP,
    finished_at TIMESTAMP
);

CREATE TABLE alert_lists (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    list_id TEXT NOT NULL REFERENCES lists(id),
    PRIMARY KEY (alert_id, list_id)
);

-- The one mail queue: alert deliveries, confirmation mails and test sends.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    alert_id TEXT REFERENCES alerts(id),
    supporter_id TEXT REFERENCES supporters(id),
    signature_id TEXT REFERENCES signatures(id),
    -- only for test sends, which go to an address that is not a supporter
    to_email TEXT,
    -- opaque per-kind data, e.g. the confirmation token until sent
    payload TEXT,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    message_id TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    UNIQUE (alert_id, supporter_id)
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_alert_status ON deliveries(alert_id, status);
CREATE INDEX deliveries_supporter ON deliveries(supporter_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    -- SHA-256 of the token; the plaintext is shown once and never stored
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
