-- Hardening (issue #13).

-- A report proves receipt (a signed link or a Message-ID with its MAC) or
-- it does not; an unproven report reaches the operator and nothing else.
ALTER TABLE concern_reports ADD COLUMN proven BIGINT NOT NULL DEFAULT 1;

-- How often a delivery's lease ran out before an outcome was recorded: the
-- worker that claimed it died or hung. After a few, the delivery fails
-- instead of taking the next worker down with it.
ALTER TABLE deliveries ADD COLUMN lease_expiries BIGINT NOT NULL DEFAULT 0;
