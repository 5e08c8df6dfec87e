ALTER TABLE release DROP COLUMN vote_stage;
ALTER TABLE vote DROP COLUMN signed_by;
ALTER TABLE vote DROP COLUMN signature;
ALTER TABLE release DROP COLUMN policy_override;
ALTER TABLE product DROP COLUMN policy_override;
DROP TABLE outbox_cursor;
DROP TABLE delivery;
DROP TABLE webhook;
DROP TABLE mail_template;
