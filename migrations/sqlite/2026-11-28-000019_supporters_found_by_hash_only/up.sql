-- A sealed address is random ciphertext: a UNIQUE index on it enforces
-- nothing (two seals of one address differ) and costs a random index
-- insert per new supporter (bench/import, 300,000 sealed rows: 13,000 rows/s
-- with it, 21,000-23,000 without). Addresses are found and kept unique by
-- their keyed hash (supporters_email_hash); only rows written before
-- encryption, with no hash yet, are found by the address itself, so only
-- they keep a unique index on it.
--
-- SQLite cannot drop a column's UNIQUE: the table is rebuilt (SQLite's
-- documented procedure, foreign-key checks off while the parent table is
-- swapped, checked before the commit). Outside diesel's transaction
-- (metadata.toml), as PRAGMA foreign_keys cannot change inside one; run
-- again after a crash, it rebuilds again and gives the same table.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS supporters_rebuilt;
CREATE TABLE supporters_rebuilt (
    id TEXT PRIMARY KEY,
    -- sealed (or, written before encryption, normalised); NULL once erased
    email TEXT,
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
    updated_at TIMESTAMP NOT NULL,
    unsubscribe_reason TEXT,
    email_hash TEXT,
    email_domain TEXT
);
INSERT INTO supporters_rebuilt (id, email, first_name, last_name, country, postcode, locale,
    status, email_opt_in, consent_at, consent_wording, consent_source, unsubscribed_at,
    bounced_at, erased_at, created_at, updated_at, unsubscribe_reason, email_hash, email_domain)
SELECT id, email, first_name, last_name, country, postcode, locale,
    status, email_opt_in, consent_at, consent_wording, consent_source, unsubscribed_at,
    bounced_at, erased_at, created_at, updated_at, unsubscribe_reason, email_hash, email_domain
FROM supporters;
DROP TABLE supporters;
ALTER TABLE supporters_rebuilt RENAME TO supporters;
CREATE UNIQUE INDEX supporters_email_hash ON supporters(email_hash);
CREATE INDEX supporters_unsealed ON supporters(id) WHERE email IS NOT NULL AND email_hash IS NULL;
CREATE UNIQUE INDEX supporters_email_clear ON supporters(email) WHERE email_hash IS NULL;
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
