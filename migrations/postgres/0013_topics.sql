-- Topics as objects (issue #19): a workspace names and describes each
-- consent topic, so the unsubscribe page and the preference centre show
-- people words, not keys. A topic used in consent or messages without a
-- row here is shown by its key.
CREATE TABLE topics (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
