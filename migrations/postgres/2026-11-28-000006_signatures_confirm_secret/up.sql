-- Confirmation tokens now start with their signature's id and are checked
-- against this hash of the whole token, found by primary key. The unique
-- index on confirm_token_hash made every new signature write a random page
-- of that index; new signatures leave it NULL, and it only finds the tokens
-- mailed before this change.
ALTER TABLE signatures ADD COLUMN confirm_secret_hash TEXT;
