DROP TABLE signing_keys;
DROP TABLE petition_snapshots;
DROP TABLE signature_salts;
DROP TABLE signature_log_heads;
DROP TABLE signature_log;
