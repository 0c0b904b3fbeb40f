-- Feedback on sent mail: bounces, complaints and auto-replies, each tied
-- to the delivery it answers (by its VERP return path or Message-ID).

CREATE TABLE delivery_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    delivery_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    hard INTEGER NOT NULL,
    status TEXT,
    reply_code TEXT,
    feedback_type TEXT,
    diagnostic TEXT,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX delivery_events_by_delivery ON delivery_events(delivery_id);
CREATE INDEX delivery_events_by_contact ON delivery_events(workspace_id, contact_id, created_at);
CREATE INDEX delivery_events_by_workspace ON delivery_events(workspace_id, created_at);

-- The reputation monitor's counts, kept incrementally: per workspace and
-- day (a rolling window sums at most its days), and per message.
CREATE TABLE reputation_days (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    day INTEGER NOT NULL,
    sends INTEGER NOT NULL DEFAULT 0,
    hard_bounces INTEGER NOT NULL DEFAULT 0,
    complaints INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, day)
);
ALTER TABLE messages ADD COLUMN sends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN hard_bounces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN complaints INTEGER NOT NULL DEFAULT 0;
-- Set when the campaign circuit breaker paused the message.
ALTER TABLE messages ADD COLUMN paused_reason TEXT;
ALTER TABLE workspaces ADD COLUMN probation_until INTEGER;
-- At reinstatement: the counts so far, so that the rates judged from then
-- on are the workspace's since, not the ones that got it suspended.
ALTER TABLE workspaces ADD COLUMN reinstated_at INTEGER;
ALTER TABLE workspaces ADD COLUMN base_sends INTEGER;
ALTER TABLE workspaces ADD COLUMN base_hard_bounces INTEGER;
ALTER TABLE workspaces ADD COLUMN base_complaints INTEGER;

-- The operator's enforcement policy (one row), and review cases.
CREATE TABLE operator_policy (
    id INTEGER PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE review_cases (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    resolution TEXT,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX review_cases_by_workspace ON review_cases(workspace_id, state);
CREATE TABLE case_notes (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES review_cases(id),
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Concerns reported by recipients or anyone (POST /v1/reports): each
-- counts as a complaint and reaches the operator, linked to its workspace.
CREATE TABLE concern_reports (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    delivery_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    reporter TEXT,
    ip TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX concern_reports_by_time ON concern_reports(created_at);

-- Outgoing webhooks (Standard Webhooks): endpoints per workspace, and one
-- row per event and endpoint, retried with back-off, kept as the log.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints(workspace_id);
CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
    workspace_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX webhook_messages_due ON webhook_messages(state, next_attempt_at);
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages(endpoint_id, created_at);
