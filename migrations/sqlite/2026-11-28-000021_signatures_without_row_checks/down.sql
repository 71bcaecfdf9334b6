CREATE INDEX signatures_petition_status ON signatures(petition_id, status, signed_at);
