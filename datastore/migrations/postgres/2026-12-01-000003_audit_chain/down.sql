DROP TABLE audit_checkpoint;
DROP TABLE audit_head;
DROP INDEX event_seq;
ALTER TABLE event DROP COLUMN hash;
ALTER TABLE event DROP COLUMN prev_hash;
ALTER TABLE event DROP COLUMN seq;
