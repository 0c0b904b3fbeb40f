-- A workspace may pause, resume and cancel a message on its way (issue
-- #19): deliveries take the state 'paused', messages 'paused' and
-- 'cancelled'. The lists are those of DeliveryStatus, MessageState and
-- ReviewState in crates/core/src/message.rs; a test compares them with
-- the last migration that names them.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_known;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_known
    CHECK (state IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled', 'paused'));
ALTER TABLE messages DROP CONSTRAINT messages_state_known;
ALTER TABLE messages ADD CONSTRAINT messages_state_known
    CHECK (state IN ('draft', 'queued', 'paused', 'cancelled'));

-- A message may use a saved audience by its id: the audience's filter is
-- read when the message is checked and sent, not copied when composed.
ALTER TABLE messages ADD COLUMN audience_id TEXT;
