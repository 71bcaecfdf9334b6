-- A sealed address is random ciphertext: a UNIQUE index on it enforces
-- nothing and costs a random index insert per new supporter. Addresses are
-- found and kept unique by their keyed hash (supporters_email_hash); only
-- rows written before encryption, with no hash yet, are found by the
-- address itself, so only they keep a unique index on it.
ALTER TABLE supporters DROP CONSTRAINT IF EXISTS supporters_email_key;
CREATE UNIQUE INDEX supporters_email_clear ON supporters(email) WHERE email_hash IS NULL;
