-- Counts an authority cannot dismiss (contract §10).
--
-- signature_log: per petition, an append-only hash chain of confirmations
-- and erasures. An entry holds no personal data: the signature's id, a
-- commitment to the address (SHA-256 of a per-signature salt and the
-- normalised address) and the chain. `at` is kept as the exact text that
-- was hashed, so what is stored is what was signed.
CREATE TABLE signature_log (
    petition_id TEXT NOT NULL REFERENCES petitions(id),
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('confirm', 'erase')),
    signature_id TEXT NOT NULL,
    commitment TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (petition_id, seq)
);
CREATE INDEX signature_log_signature ON signature_log(signature_id);

-- The head of each petition's chain: the row a writer locks to append, so
-- concurrent writers never fork the chain.
CREATE TABLE signature_log_heads (
    petition_id TEXT PRIMARY KEY NOT NULL REFERENCES petitions(id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- The salt behind a confirmed signature's commitment. Erasure deletes it:
-- the commitment then proves nothing about who signed.
CREATE TABLE signature_salts (
    signature_id TEXT PRIMARY KEY NOT NULL REFERENCES signatures(id),
    salt TEXT NOT NULL
);

-- Signed count snapshots, all kept. `body` is the canonical JSON that was
-- signed (without the signature).
CREATE TABLE petition_snapshots (
    id TEXT PRIMARY KEY NOT NULL,
    petition_id TEXT NOT NULL REFERENCES petitions(id),
    log_seq BIGINT NOT NULL,
    confirmed BIGINT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX petition_snapshots_petition ON petition_snapshots(petition_id, log_seq);

-- Public halves of the snapshot signing keys, current and retired (the
-- private key lives outside the database).
CREATE TABLE signing_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL,
    created TIMESTAMP NOT NULL,
    retired TIMESTAMP
);

-- Every petition's chain starts empty. Signatures confirmed before the log
-- existed are appended by the service on start (`db::log::unlogged_confirmations`).
INSERT INTO signature_log_heads (petition_id, seq, hash)
SELECT id, 0, '0000000000000000000000000000000000000000000000000000000000000000' FROM petitions;
