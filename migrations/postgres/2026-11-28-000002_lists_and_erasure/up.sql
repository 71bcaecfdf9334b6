-- Signature listings and CSV exports page by id within one petition and
-- status (keyset paging); this index serves them without a sort.
CREATE INDEX signatures_petition_status_id ON signatures(petition_id, status, id);

-- Addresses of erased supporters, as SHA-256 only, so that an import never
-- brings an erased person back (the supporter row itself no longer holds the
-- address). Unkeyed on purpose: a rotated secret key must not silently undo
-- erasures.
CREATE TABLE erased_emails (
    email_hash TEXT PRIMARY KEY
);
