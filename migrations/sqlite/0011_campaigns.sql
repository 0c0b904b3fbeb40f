-- A workspace may pause, resume and cancel a message on its way (issue
-- #19): deliveries take the state 'paused', messages 'paused' and
-- 'cancelled'. The lists are those of DeliveryStatus, MessageState and
-- ReviewState in crates/core/src/message.rs; a test compares them with
-- the last migration that names them.
DROP TRIGGER deliveries_state_known_insert;
DROP TRIGGER deliveries_state_known_update;
DROP TRIGGER messages_state_known_insert;
DROP TRIGGER messages_state_known_update;
CREATE TRIGGER deliveries_state_known_insert BEFORE INSERT ON deliveries
WHEN NEW.state NOT IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled', 'paused')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_state_known'); END;
CREATE TRIGGER deliveries_state_known_update BEFORE UPDATE OF state ON deliveries
WHEN NEW.state NOT IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled', 'paused')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_state_known'); END;

CREATE TRIGGER messages_state_known_insert BEFORE INSERT ON messages
WHEN NEW.state NOT IN ('draft', 'queued', 'paused', 'cancelled')
  OR (NEW.review_state IS NOT NULL AND NEW.review_state NOT IN ('pending', 'approved', 'rejected'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: messages_state_known'); END;
CREATE TRIGGER messages_state_known_update BEFORE UPDATE OF state, review_state ON messages
WHEN NEW.state NOT IN ('draft', 'queued', 'paused', 'cancelled')
  OR (NEW.review_state IS NOT NULL AND NEW.review_state NOT IN ('pending', 'approved', 'rejected'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: messages_state_known'); END;

-- A message may use a saved audience by its id: the audience's filter is
-- read when the message is checked and sent, not copied when composed.
ALTER TABLE messages ADD COLUMN audience_id TEXT;
