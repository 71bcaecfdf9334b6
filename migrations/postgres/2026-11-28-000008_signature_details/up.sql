-- Confirmation links are made from the signature id and the process keys
-- when the mail is built, so no row needs the token: the ones still waiting
-- in queued deliveries are forgotten (the mail goes out with a link that
-- confirms just the same).
UPDATE deliveries SET payload = NULL WHERE kind = 'confirmation' AND payload IS NOT NULL;

-- A signature keeps the name the person typed on the form: the supporter
-- behind the address takes it only when the signature is confirmed (a
-- stranger who knows an address cannot rename its owner), and exports show
-- the names as signed. Signatures made before this keep their supporter's
-- name as it is now, the nearest thing to what they typed.
ALTER TABLE signatures ADD COLUMN first_name TEXT;
ALTER TABLE signatures ADD COLUMN last_name TEXT;
UPDATE signatures SET
    first_name = (SELECT s.first_name FROM supporters s WHERE s.id = signatures.supporter_id),
    last_name = (SELECT s.last_name FROM supporters s WHERE s.id = signatures.supporter_id);
