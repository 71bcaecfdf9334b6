DROP TABLE erased_emails;
DROP INDEX signatures_petition_status_id;
