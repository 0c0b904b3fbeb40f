-- Consent declared by an import is held here until the import is accepted
-- (at its end) or approved by the operator; a rejected import's is dropped.
CREATE TABLE import_consent (
    import_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    workspace_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    action TEXT NOT NULL,
    topic TEXT NOT NULL,
    method TEXT NOT NULL,
    actor TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
CREATE INDEX import_consent_by_contact ON import_consent(workspace_id, contact_id);

-- Erasure finds every copy of a person's data by their contact id.
CREATE INDEX link_events_by_contact ON link_events(workspace_id, contact_id);
CREATE INDEX outbox_by_delivery ON outbox(delivery_id);

-- A new version of the guidelines gives workspaces a grace period to
-- accept it, during which they send as before and are reminded.
ALTER TABLE guidelines ADD COLUMN grace_until BIGINT;

-- A message may leave out recipients whose addresses are risky (a likely
-- typo, a disposable domain, a role account).
ALTER TABLE messages ADD COLUMN exclude_risky BIGINT NOT NULL DEFAULT 0;

-- The workspace's own team addresses, which receive test sends once the
-- address confirmed it (by a link mailed to it), and the test mails.
CREATE TABLE team_addresses (
    workspace_id TEXT NOT NULL,
    email TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    PRIMARY KEY (workspace_id, email)
);
CREATE TABLE test_mails (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    message_id TEXT,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw TEXT NOT NULL,
    state TEXT NOT NULL,
    last_reply TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX test_mails_queued ON test_mails(state, id);
CREATE INDEX test_mails_by_workspace ON test_mails(workspace_id, id);
