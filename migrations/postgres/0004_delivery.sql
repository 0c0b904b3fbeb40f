-- The delivery engine: leases owned by one worker, the SMTP reply kept
-- per delivery, and the sender domains a workspace proved it owns, with
-- their DKIM keys (encrypted with a key derived from the instance secret).

ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN reply_code BIGINT;
ALTER TABLE deliveries ADD COLUMN enhanced_status TEXT;
ALTER TABLE deliveries ADD COLUMN recipient_domain TEXT;
ALTER TABLE deliveries ADD COLUMN first_attempt_at BIGINT;
ALTER TABLE deliveries ADD COLUMN done_at BIGINT;
CREATE INDEX deliveries_done ON deliveries(done_at);

CREATE TABLE sender_domains (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    domain TEXT NOT NULL,
    rsa_selector TEXT,
    rsa_key TEXT,
    ed25519_selector TEXT,
    ed25519_key TEXT,
    verified_at BIGINT,
    checked_at BIGINT,
    last_check TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, domain)
);
