-- The delivery team's console accounts. An operator signs in with a
-- console account (email, password) and must use a second factor; the
-- role here is the platform's, apart from any workspace membership:
-- `operator` may do everything, `auditor` may only read.
CREATE TABLE operator_accounts (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    role TEXT NOT NULL CHECK (role IN ('operator', 'auditor')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
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
