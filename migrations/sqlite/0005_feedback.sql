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
