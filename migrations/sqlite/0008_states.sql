-- The states a delivery and a message may be in, as the database's own
-- rule: a write with any other name fails. The lists are those of
-- DeliveryStatus, MessageState and ReviewState in crates/core/src/message.rs;
-- a test compares them.
--
-- SQLite cannot add a CHECK constraint to a table that exists: it would have
-- to copy the table (every delivery ever made) and, for messages, switch off
-- the foreign keys that point at it. These triggers enforce the same lists
-- on every insert and every change of the column, and fail with the same
-- words a CHECK constraint would.
CREATE TRIGGER deliveries_state_known_insert BEFORE INSERT ON deliveries
WHEN NEW.state NOT IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_state_known'); END;
CREATE TRIGGER deliveries_state_known_update BEFORE UPDATE OF state ON deliveries
WHEN NEW.state NOT IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_state_known'); END;

CREATE TRIGGER messages_state_known_insert BEFORE INSERT ON messages
WHEN NEW.state NOT IN ('draft', 'queued')
  OR (NEW.review_state IS NOT NULL AND NEW.review_state NOT IN ('pending', 'approved', 'rejected'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: messages_state_known'); END;
CREATE TRIGGER messages_state_known_update BEFORE UPDATE OF state, review_state ON messages
WHEN NEW.state NOT IN ('draft', 'queued')
  OR (NEW.review_state IS NOT NULL AND NEW.review_state NOT IN ('pending', 'approved', 'rejected'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: messages_state_known'); END;
