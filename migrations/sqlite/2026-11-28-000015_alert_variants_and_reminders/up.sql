-- Alerts in several languages (contract §9) and one confirmation reminder.

-- The language of an alert's own text (a tag of a shipped locale); NULL:
-- the configured default. Recipients without a variant of their language
-- get this text, with the mail's fixed parts in this language.
ALTER TABLE alerts ADD COLUMN locale TEXT;

-- One translation of an alert per language.
CREATE TABLE alert_variants (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    locale TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    PRIMARY KEY (alert_id, locale)
);

-- When the one reminder of a pending signature was queued (NULL: none yet).
-- Set in the transaction that queues it, so a crash never sends two.
ALTER TABLE signatures ADD COLUMN reminded_at TIMESTAMP;
-- The reminder job looks for pending signatures not yet reminded, oldest first.
CREATE INDEX signatures_to_remind ON signatures(signed_at)
    WHERE status = 'pending' AND reminded_at IS NULL;
