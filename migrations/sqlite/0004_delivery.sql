-- The delivery engine: leases owned by one worker, the SMTP reply kept
-- per delivery, and the sender domains a workspace proved it owns, with
-- their DKIM keys (encrypted with a key derived from the instance secret).

ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN reply_code INTEGER;
ALTER TABLE deliveries ADD COLUMN enhanced_status TEXT;
ALTER TABLE deliveries ADD COLUMN recipient_domain TEXT;
ALTER TABLE deliveries ADD COLUMN first_attempt_at INTEGER;
ALTER TABLE deliveries ADD COLUMN done_at INTEGER;
CREATE INDEX deliveries_done ON deliveries(done_at);

CREATE TABLE sender_domains (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    domain TEXT NOT NULL,
    rsa_selector TEXT,
    rsa_key TEXT,
    ed25519_selector TEXT,
    ed25519_key TEXT,
    verified_at INTEGER,
    checked_at INTEGER,
    last_check TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, domain)
);
