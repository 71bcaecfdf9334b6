-- Confirmation links are made from the signature id and the process keys
-- when the mail is built, so no row needs the token: the ones still waiting
-- in queued deliveries are forgotten (the mail goes out with a link that
-- confirms just the same).
UPDATE deliveries SET payload = NULL WHERE kind = 'confirmation' AND payload IS NOT NULL;
