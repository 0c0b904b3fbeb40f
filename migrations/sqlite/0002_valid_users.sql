-- Valid users only: address verdicts on contacts, quarantine by import,
-- imports with their provenance and score, suppression management, and the
-- operator's platform-wide trap list.

-- A contact created by an import is quarantined while that import's status
-- says so: approving an import changes one row, not a million.
ALTER TABLE contacts ADD COLUMN address_verdict TEXT;
ALTER TABLE contacts ADD COLUMN address_check TEXT;
ALTER TABLE contacts ADD COLUMN import_id TEXT;

-- The address in clear where the workspace may know it (not after erasure).
ALTER TABLE suppressions ADD COLUMN email TEXT;
CREATE INDEX suppressions_by_hash ON suppressions(email_hash);

CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    source TEXT NOT NULL,
    description TEXT,
    consent TEXT NOT NULL,
    consent_topic TEXT,
    consent_statement TEXT,
    status TEXT NOT NULL,
    score BIGINT,
    counts TEXT,
    signals TEXT,
    rejects TEXT,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    reviewed_at BIGINT,
    review_note TEXT
);
CREATE INDEX imports_by_workspace ON imports(workspace_id, id);
CREATE INDEX imports_by_status ON imports(status, id);

CREATE TABLE operator_suppressions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, value)
);
