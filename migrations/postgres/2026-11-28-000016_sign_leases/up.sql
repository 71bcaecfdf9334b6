-- Leases of the shared signing limit (issue 16): the function also tells how
-- long what it granted stays in its minute, so a node can take a block of a
-- client's allowance in one round trip and admit from it in memory.

DROP FUNCTION clarion_sign_limit(TEXT[], INTEGER[], INTEGER);

-- Takes up to wants[i] signatures for keys[i] (keys sorted by the caller, so
-- two nodes lock rows in one order) under a sliding minute: this minute's
-- count plus the last minute's, weighted by how much of it still lies within
-- sixty seconds, stays at or below per_minute. Returns per key how many were
-- admitted and, when not all were, the whole seconds (1 to 60) until the
-- next one may be; and for all, window_ms, the milliseconds left in the
-- minute they were counted in. A node may ask for more than it has requests
-- waiting (a lease) and admit the rest from memory until window_ms runs
-- out; what it does not spend is lost, never counted twice. One round trip
-- for a whole batch of checks.
CREATE FUNCTION clarion_sign_lease(keys TEXT[], wants INTEGER[], per_minute INTEGER)
RETURNS TABLE (k TEXT, admitted INTEGER, retry_secs INTEGER, window_ms INTEGER)
LANGUAGE plpgsql AS $$
DECLARE
    now_s DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
    win BIGINT := floor(now_s / 60);
    into_win DOUBLE PRECISION := now_s - floor(now_s / 60) * 60;
    prev INTEGER;
    cur INTEGER;
    give INTEGER;
    wait DOUBLE PRECISION;
BEGIN
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        INSERT INTO sign_limits (ip_hash, window_start, signatures)
        VALUES (keys[i], win, 0)
        ON CONFLICT (ip_hash, window_start) DO NOTHING;
        SELECT l.signatures INTO cur FROM sign_limits l
        WHERE l.ip_hash = keys[i] AND l.window_start = win
        FOR UPDATE;
        SELECT l.signatures INTO prev FROM sign_limits l
        WHERE l.ip_hash = keys[i] AND l.window_start = win - 1;
        prev := coalesce(prev, 0);
        give := greatest(0, least(wants[i],
            per_minute - cur - ceil(prev * (60 - into_win) / 60)::INTEGER));
        IF give > 0 THEN
            UPDATE sign_limits SET signatures = cur + give
            WHERE ip_hash = keys[i] AND window_start = win;
            cur := cur + give;
        END IF;
        wait := 0;
        IF give < wants[i] THEN
            IF cur < per_minute AND prev > 0 THEN
                -- Within this minute, once enough of the last one has slid out.
                wait := 60 - 60.0 * (per_minute - 1 - cur) / prev - into_win;
            ELSE
                -- In the next minute, once enough of this one has slid out.
                wait := 60 - into_win
                    + greatest(0, 60 - 60.0 * (per_minute - 1) / greatest(cur, 1));
            END IF;
        END IF;
        k := keys[i];
        admitted := give;
        -- At most a minute: the weighted estimate can ask for more, but a
        -- client is not told to wait longer than the limit's own period
        -- (one refused again is told again).
        retry_secs := least(60, greatest(1, ceil(wait)))::INTEGER;
        window_ms := greatest(0, floor((60 - into_win) * 1000))::INTEGER;
        RETURN NEXT;
    END LOOP;
END
$$;
