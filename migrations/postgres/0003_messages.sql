-- Audiences, templates, messages, the delivery queue and the capture outbox.
-- Times are milliseconds since the Unix epoch (UTC).

-- A contact's current consent as `|marketing:in|news:out|`, kept beside
-- contact_consent in the same transactions, so an audience over a million
-- contacts reads it from the row instead of looking it up per contact.
ALTER TABLE contacts ADD COLUMN consent_state TEXT;
UPDATE contacts SET consent_state = (
    SELECT '|' || string_agg(cc.topic || ':' || CASE cc.status WHEN 'opted_in' THEN 'in' ELSE 'out' END, '|' ORDER BY cc.topic) || '|'
    FROM contact_consent cc
    WHERE cc.workspace_id = contacts.workspace_id AND cc.contact_id = contacts.id
);

-- Where the opt-in button sends a person after confirming.
ALTER TABLE workspaces ADD COLUMN opt_in_landing_url TEXT;

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    layout TEXT NOT NULL,
    source TEXT NOT NULL,
    warnings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX templates_by_workspace ON templates(workspace_id, id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    from_name TEXT,
    from_address TEXT NOT NULL,
    reply_to TEXT,
    subject TEXT NOT NULL,
    template TEXT NOT NULL,
    audience TEXT,
    opt_in_attribute TEXT NOT NULL,
    track_clicks BIGINT NOT NULL,
    track_opens BIGINT NOT NULL,
    data TEXT,
    state TEXT NOT NULL,
    queued BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    -- The content screen's verdict when it was sent, and the operator's
    -- review when that verdict was `review`.
    screening TEXT,
    review_state TEXT,
    review_note TEXT,
    reviewed_at BIGINT
);
CREATE INDEX messages_by_workspace ON messages(workspace_id, id);
CREATE INDEX messages_by_review ON messages(review_state, id);

-- One row per (message, contact); its id is derived from both, so queueing
-- the same contact twice for one message is impossible.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    message_id TEXT NOT NULL REFERENCES messages(id),
    contact_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_reply TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
CREATE INDEX deliveries_by_message ON deliveries(message_id, state);
CREATE INDEX deliveries_by_contact ON deliveries(workspace_id, contact_id, kind, created_at);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    message_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_by_workspace ON outbox(workspace_id, message_id, id);

-- What recipients did with the links of a mail.
CREATE TABLE link_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    message_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    ip TEXT,
    user_agent TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX link_events_by_message ON link_events(message_id, kind);

-- Audience counts read the suppression of every matching contact: a
-- covering index answers it from one index look-up.
CREATE INDEX suppressions_reason ON suppressions(workspace_id, email_hash, reason);
