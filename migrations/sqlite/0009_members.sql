-- People who sign in to the web console. An account is one person (one
-- email address, one password); a membership gives it a role in one
-- workspace. The roles are the API keys' roles, with the same permissions.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    -- Argon2id in the PHC string format; NULL until the invite is accepted.
    password_hash TEXT,
    -- The TOTP secret (hex) once a second factor is set up.
    totp_secret TEXT,
    created_at BIGINT NOT NULL,
    password_set_at BIGINT
);

CREATE TABLE members (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'sender', 'viewer')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, account_id)
);
CREATE INDEX members_by_account ON members(account_id);

-- One-time links: an invite (sets the first password) or a password reset.
-- Only a digest of the token is kept.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_by_account ON account_tokens(account_id);

-- Console sessions, server-side: the cookie holds a random id, the table
-- its digest. A session acts in one workspace at a time.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    workspace_id TEXT REFERENCES workspaces(id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX console_sessions_by_account ON console_sessions(account_id);

-- The console's contact search: a name prefix is a range of this index.
CREATE INDEX contacts_by_name ON contacts(workspace_id, name);

-- Saved audiences: a named filter (its canonical JSON and its text form),
-- evaluated again whenever it is used.
CREATE TABLE saved_audiences (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    filter TEXT NOT NULL,
    filter_text TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

-- Who made each API key and webhook endpoint, so that a member's can be
-- found when the member leaves.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN created_by TEXT;
