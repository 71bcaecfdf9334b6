ALTER TABLE cases DROP COLUMN retention_done_at;
ALTER TABLE cases DROP COLUMN ended_at;
ALTER TABLE cases DROP COLUMN retention_days;
ALTER TABLE petitions DROP COLUMN public_min_count;
