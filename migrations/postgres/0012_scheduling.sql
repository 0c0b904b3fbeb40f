-- Scheduled sends (issue #19): a message may wait, 'scheduled', for its
-- send_at (UTC, milliseconds) and go out within a delivery window in each
-- recipient's time zone; a scheduled send whose checks fail at its time
-- is 'held' with the reason. A workspace may set quiet hours and the time
-- zone of contacts that have none. The lists are those of DeliveryStatus,
-- MessageState and ReviewState in crates/core/src/message.rs; a test
-- compares them with the last migration that names them.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_known;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_known
    CHECK (state IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled', 'paused'));
ALTER TABLE messages DROP CONSTRAINT messages_state_known;
ALTER TABLE messages ADD CONSTRAINT messages_state_known
    CHECK (state IN ('draft', 'queued', 'paused', 'cancelled', 'scheduled', 'held'));

ALTER TABLE messages ADD COLUMN send_at BIGINT;
-- {"start": "09:00", "end": "17:00", "days": ["mon", ...]}
ALTER TABLE messages ADD COLUMN send_window TEXT;
ALTER TABLE messages ADD COLUMN held_reason TEXT;
CREATE INDEX messages_scheduled ON messages(state, send_at);

-- "21:00-08:00": no bulk mail reaches a person in these local hours.
ALTER TABLE workspaces ADD COLUMN quiet_hours TEXT;
-- An IANA name, for contacts without a `timezone` attribute.
ALTER TABLE workspaces ADD COLUMN timezone TEXT;
