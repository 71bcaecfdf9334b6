-- Issue #16 point 5: what a big send costs PostgreSQL per message.
--
-- 1. Marking a batch sent (`backend::record_sent_many`) joins the batch's
--    ids to `deliveries`. With `deliveries_leased` defined over
--    `status = 'sending'`, the statement's own guard (`status = 'sending'
--    AND locked_by = …`) matched that index, and the planner, which counts
--    few leased rows, read every row the index still pointed to (a bitmap
--    scan does not skip the entries of rows already sent, so they pile up
--    until vacuum) and compared each with the whole batch: 15–90 ms a batch
--    late in a 100,000-message send. The index now covers the rows that
--    hold a lease (`locked_until IS NOT NULL`: exactly the `sending` rows,
--    as the claim sets `locked_until` and every way out of `sending` clears
--    it), which the reaper's `locked_until < $now` implies and the sent
--    guard does not: the batch is found through the primary key.
DROP INDEX deliveries_leased;
CREATE INDEX deliveries_leased ON deliveries(locked_until) WHERE locked_until IS NOT NULL;

-- 2. An alert's progress (`GET /alerts/{id}`, the console's progress page,
--    the worker's check whether the alert is finished) counted the alert's
--    deliveries by status, by reply class and sent in the last minute: three
--    scans of every delivery of the alert per look, 4 of 16 s of database
--    time in a 100,000-message send polled twice a second. Each statement
--    that changes alert deliveries now appends what it changed to
--    `alert_progress` (one row per alert, key and sent time, in the same
--    transaction, so the sums are as exact as the rows), and a look sums a
--    few rows. Keys: `waiting` (queued, held or being sent), `sent`,
--    `failed`, `cancelled`, `expired`, and `reply:mailbox_gone` /
--    `reply:complaint` for the reply classes the alert's figures count.
--    `at` is the sent time of `sent` rows to the second (the rate over the
--    last minute reads it), NULL otherwise. Rows are only appended, never updated, so
--    concurrent workers never wait on one another here; the worker folds
--    old rows together (`backend::compact_alert_progress`).
CREATE TABLE alert_progress (
    alert_id TEXT NOT NULL,
    key TEXT NOT NULL,
    at TIMESTAMP,
    n BIGINT NOT NULL
);
CREATE INDEX alert_progress_alert ON alert_progress(alert_id, key);

-- The keys a delivery row counts under (none, one or two), with the sent
-- time of a sent one.
CREATE FUNCTION clarion_progress_keys(d deliveries) RETURNS TABLE (key TEXT, at TIMESTAMP)
LANGUAGE sql IMMUTABLE AS $$
    SELECT k.key, k.at FROM (VALUES
        (CASE WHEN d.status IN ('queued', 'held', 'sending') THEN 'waiting' ELSE d.status END,
         CASE WHEN d.status = 'sent' THEN date_trunc('second', d.sent_at) END),
        (CASE WHEN d.reply_class IN ('mailbox_gone', 'complaint') THEN 'reply:' || d.reply_class END,
         NULL::TIMESTAMP)
    ) AS k(key, at)
    WHERE d.kind = 'alert' AND d.alert_id IS NOT NULL AND k.key IS NOT NULL
$$;

-- Appends this statement's deltas: +1 for each new row version, -1 for
-- each old one, summed per (alert, key, sent time); what nets to zero (a
-- claim: waiting stays waiting) writes nothing.
CREATE FUNCTION clarion_alert_progress() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO alert_progress (alert_id, key, at, n)
        SELECT r.alert_id, k.key, k.at, COUNT(*) FROM new_rows r, clarion_progress_keys(r) k
        GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO alert_progress (alert_id, key, at, n)
        SELECT alert_id, key, at, SUM(n) FROM (
            SELECT r.alert_id, k.key, k.at, 1 AS n FROM new_rows r, clarion_progress_keys(r) k
            UNION ALL
            SELECT r.alert_id, k.key, k.at, -1 FROM old_rows r, clarion_progress_keys(r) k
        ) d GROUP BY 1, 2, 3 HAVING SUM(n) <> 0;
    ELSE
        INSERT INTO alert_progress (alert_id, key, at, n)
        SELECT r.alert_id, k.key, k.at, -COUNT(*) FROM old_rows r, clarion_progress_keys(r) k
        GROUP BY 1, 2, 3;
    END IF;
    RETURN NULL;
END
$$;

-- 3. With the counts kept, nothing on PostgreSQL needs `deliveries_alert_status`
--    any more: what still looks for an alert's deliveries in some status
--    (cancel, expiry, a domain's pause, the console's counts by domain)
--    reads the alert's rows through the unique (alert_id, supporter_id)
--    index, and held ones through `deliveries_held`. Each claim and each
--    sent mark wrote an entry into it (no status change here can be a HOT
--    update): one index fewer for both.
DROP INDEX deliveries_alert_status;

-- No writer may change deliveries between the count below and the
-- triggers that keep it.
LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER deliveries_progress_insert AFTER INSERT ON deliveries
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION clarion_alert_progress();
CREATE TRIGGER deliveries_progress_update AFTER UPDATE ON deliveries
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION clarion_alert_progress();
CREATE TRIGGER deliveries_progress_delete AFTER DELETE ON deliveries
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION clarion_alert_progress();

-- What is there already. Sent times are kept for the last ten minutes
-- only, the most a rate window looks back.
INSERT INTO alert_progress (alert_id, key, at, n)
SELECT r.alert_id, k.key,
       CASE WHEN k.at >= (now() AT TIME ZONE 'UTC') - INTERVAL '10 minutes' THEN k.at END,
       COUNT(*)
FROM deliveries r, clarion_progress_keys(r) k
GROUP BY 1, 2, 3;
