-- An alert's audience snapshot inserts one delivery per recipient in one
-- INSERT … SELECT from the supporters it has just read. PostgreSQL checked
-- each inserted row's alert and supporter against their tables (a lookup and
-- a row lock, FOR KEY SHARE, per row): half of the snapshot's time, 1.2 of
-- 2.3 s for 100,000 recipients. Neither check can fail: deliveries are only
-- made for rows the same statement or transaction reads, and alerts and
-- supporters are never deleted (an erased supporter keeps an empty row).
-- The columns and their indexes stay; only the per-row checks go. SQLite
-- keeps its checks, which cost it little (the snapshot takes 0.3 s there).
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_alert_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_supporter_id_fkey;
