-- The states a delivery and a message may be in, as the database's own
-- rule: a write with any other name fails. The lists are those of
-- DeliveryStatus, MessageState and ReviewState in crates/core/src/message.rs;
-- a test compares them.
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_known
    CHECK (state IN ('review', 'queued', 'sending', 'delivered', 'deferred', 'bounced', 'failed', 'held', 'skipped', 'cancelled'));
ALTER TABLE messages ADD CONSTRAINT messages_state_known
    CHECK (state IN ('draft', 'queued'));
ALTER TABLE messages ADD CONSTRAINT messages_review_state_known
    CHECK (review_state IS NULL OR review_state IN ('pending', 'approved', 'rejected'));
