-- What receivers say about mail (contract §8).
--
-- Each delivery knows its recipient's domain (deliveries are grouped by it:
-- throttling and pauses act on one domain) and the class of the last reply
-- it got (mailbox_gone, policy, mailbox_full, throttled, temporary,
-- rejected; complaint for a feedback report).
ALTER TABLE deliveries ADD COLUMN domain TEXT;
ALTER TABLE deliveries ADD COLUMN reply_class TEXT;
-- Held deliveries (status 'held') wait for a paused alert or domain to be
-- resumed: not claimable, still waiting.
CREATE INDEX deliveries_held ON deliveries(alert_id, domain) WHERE status = 'held';

-- Why a supporter left: 'complaint' when a feedback report said so.
ALTER TABLE supporters ADD COLUMN unsubscribe_reason TEXT;

-- An alert paused by itself (complaints) says why and since when.
ALTER TABLE alerts ADD COLUMN paused_reason TEXT;
ALTER TABLE alerts ADD COLUMN paused_at TIMESTAMP;

-- One receiving domain paused for one alert after a run of policy refusals:
-- its deliveries are held until a campaigner resumes it or resume_at passes.
CREATE TABLE alert_domain_pauses (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    domain TEXT NOT NULL,
    reply TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    resume_at TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id, domain)
);

-- Late reports (bounces and complaints) that named no delivery: kept, with
-- the message, for a campaigner to look at, never dropped. Matched reports
-- keep no message, only their effect on the delivery.
CREATE TABLE inbound_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX inbound_reports_received_at ON inbound_reports(received_at);
