-- Alerts that follow the case (contract §9): who gets them, when, and who
-- approved them.

-- When a scheduled alert takes its audience snapshot and starts sending,
-- and the moment after which none of its deliveries is made (they expire).
ALTER TABLE alerts ADD COLUMN send_at TIMESTAMP;
ALTER TABLE alerts ADD COLUMN send_by TIMESTAMP;
-- Who wrote it (`token:ID`, `user:ID`, `cli`): the first and the latest
-- hand on its text. Neither may approve its send.
ALTER TABLE alerts ADD COLUMN created_by_key TEXT;
ALTER TABLE alerts ADD COLUMN updated_by_key TEXT;
-- Four eyes: who asked for the send, and who approved it (as the audit log
-- names them) and when.
ALTER TABLE alerts ADD COLUMN send_requested_by TEXT;
ALTER TABLE alerts ADD COLUMN approved_by TEXT;
ALTER TABLE alerts ADD COLUMN approved_at TIMESTAMP;
-- The periodic job looks for scheduled alerts that are due.
CREATE INDEX alerts_scheduled ON alerts(send_at) WHERE status = 'scheduled';

-- An alert's audience filters, one row per value: kind 'exclude_signers_of'
-- (a petition id), 'country' (ISO 3166-1 alpha-2) or 'locale' (a language
-- tag, lower case). No row of a kind = no filter of that kind.
CREATE TABLE alert_audience (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (alert_id, kind, value)
);
