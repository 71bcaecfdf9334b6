-- Supporters an authority cannot find (contract §11): small numbers and
-- retention.

-- Countries with fewer confirmed signatures than this are summed into
-- "other" wherever the public sees counts (0: every country shown).
ALTER TABLE petitions ADD COLUMN public_min_count BIGINT NOT NULL DEFAULT 0;

-- Days after the case ended (resolved or closed) when the personal data of
-- its signers that nothing else holds is erased; NULL keeps it.
ALTER TABLE cases ADD COLUMN retention_days BIGINT;
-- When the case was last resolved or closed (NULL while open): what
-- retention counts from.
ALTER TABLE cases ADD COLUMN ended_at TIMESTAMP;
-- When retention last found nobody left to erase (the job then skips the
-- case until it is reopened or its retention changes).
ALTER TABLE cases ADD COLUMN retention_done_at TIMESTAMP;

-- Cases that ended before this column existed ended, at the latest, when
-- they were last changed.
UPDATE cases SET ended_at = updated_at WHERE status IN ('resolved', 'closed');
