-- The delivery team's console accounts. An operator signs in with a
-- console account (email, password) and must use a second factor; the
-- role here is the platform's, apart from any workspace membership:
-- `operator` may do everything, `auditor` may only read.
--
-- The way in is a setup link that `sendwell operator add-user` prints (its
-- digest here): it sets the password and the second factor together. A
-- password alone, however it was set, never makes an operator session.
CREATE TABLE operator_accounts (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    role TEXT NOT NULL CHECK (role IN ('operator', 'auditor')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    setup_token_hash TEXT UNIQUE,
    setup_expires_at BIGINT
);

-- Operator sessions, kept apart from workspace sessions: their own
-- cookie, their own table, started only after the second factor.
CREATE TABLE operator_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX operator_sessions_by_account ON operator_sessions(account_id);

-- A report of concern is handled by an operator, with a note.
ALTER TABLE concern_reports ADD COLUMN handled_at BIGINT;
ALTER TABLE concern_reports ADD COLUMN handled_by TEXT;
ALTER TABLE concern_reports ADD COLUMN handled_note TEXT;

-- A workspace's recent hard bounces, for the domains that bounced most
-- (the operator's workspace page and a case's evidence): a partial index,
-- so the read costs what bounced, not everything the workspace sent.
CREATE INDEX deliveries_bounced ON deliveries(workspace_id, updated_at) WHERE state = 'bounced';
