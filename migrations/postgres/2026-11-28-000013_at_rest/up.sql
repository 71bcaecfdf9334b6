-- Supporters' personal data sealed at rest (contract §11). Names, address,
-- postcode and comment hold sealed text (`$c1$KEYID$…`, see src/vault.rs)
-- once `clarion migrate` or the writes that follow have sealed them; the
-- address is found by a keyed hash of its normalised form instead.
ALTER TABLE supporters ADD COLUMN email_hash TEXT;
-- The receiving domain, in the clear: per-domain throttling and pauses
-- group the alert audience by it inside one SQL statement, and a domain is
-- not an address (erasure clears it, as it clears deliveries.domain).
ALTER TABLE supporters ADD COLUMN email_domain TEXT;
-- De-duplication by address: one supporter per hash.
CREATE UNIQUE INDEX supporters_email_hash ON supporters(email_hash);
-- Rows written before encryption that still hold a plain address: found
-- at once (lookups fall back to them until they are sealed).
CREATE INDEX supporters_unsealed ON supporters(id) WHERE email IS NOT NULL AND email_hash IS NULL;

-- The ids of the data keys values are sealed under (never a key): a
-- process whose key file lacks one refuses to start rather than show
-- nothing, and rotation retires a key here once no row uses it.
CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
