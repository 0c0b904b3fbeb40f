-- Warm-up (issue #19): a new workspace's bulk mail is capped per UTC day,
-- the cap growing each day its rates stay under the review lines, until
-- the policy's end. warmup_cap NULL: no cap (workspaces made before this
-- migration are established senders, and start with none).
ALTER TABLE workspaces ADD COLUMN warmup_cap BIGINT;
-- The UTC day (milliseconds / 86,400,000) the cap and counts are for.
ALTER TABLE workspaces ADD COLUMN warmup_day BIGINT NOT NULL DEFAULT 0;
-- Bulk mails let through that day, and put off to a later day.
ALTER TABLE workspaces ADD COLUMN warmup_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN warmup_deferred BIGINT NOT NULL DEFAULT 0;
