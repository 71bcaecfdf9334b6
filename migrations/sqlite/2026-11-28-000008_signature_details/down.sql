ALTER TABLE signatures DROP COLUMN last_name;
ALTER TABLE signatures DROP COLUMN first_name;
