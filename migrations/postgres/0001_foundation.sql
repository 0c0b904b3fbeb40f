-- Foundation: workspaces, guidelines, API keys, contacts, attribute schema,
-- suppressions, the consent ledger, erasures and the audit log.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE instance_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    physical_address TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_by_workspace ON audit_log(workspace_id, id);

CREATE TABLE guidelines (
    version BIGINT PRIMARY KEY,
    text TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL
);

CREATE TABLE guideline_acceptances (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    version BIGINT NOT NULL REFERENCES guidelines(version),
    accepted_by TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    ip TEXT,
    accepted_at BIGINT NOT NULL
);
CREATE INDEX guideline_acceptances_by_workspace ON guideline_acceptances(workspace_id, version);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_workspace ON api_keys(workspace_id, id);

CREATE TABLE attribute_schema (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

-- Keyed by workspace first: every look-up and page is within one workspace.
-- email_hash has no index of its own: suppressions are found through their
-- own key, and a random-valued index made every batch write scattered pages.
CREATE TABLE contacts (
    id TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    email TEXT,
    email_key TEXT,
    email_hash TEXT,
    external_id TEXT,
    name TEXT,
    attributes JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX contacts_by_email ON contacts(workspace_id, email_key);
CREATE UNIQUE INDEX contacts_by_external_id ON contacts(workspace_id, external_id);

CREATE TABLE suppressions (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    email_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, email_hash)
);

CREATE TABLE consent_heads (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE consent_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    seq BIGINT NOT NULL,
    contact_id TEXT NOT NULL,
    action TEXT NOT NULL,
    topic TEXT NOT NULL,
    method TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    evidence TEXT,
    evidence_salt TEXT,
    evidence_digest TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    erased_at BIGINT,
    UNIQUE (workspace_id, seq)
);
CREATE INDEX consent_events_by_contact ON consent_events(workspace_id, contact_id, seq);

CREATE TABLE contact_consent (
    workspace_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    double_opt_in BIGINT NOT NULL,
    since BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, contact_id, topic)
);

CREATE TABLE erasures (
    contact_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    erased_at BIGINT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX erasures_by_workspace ON erasures(workspace_id);
