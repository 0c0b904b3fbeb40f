-- Hosted sign-up forms with double opt-in (issue #19). A submission is
-- kept apart from contacts until its confirmation link is pressed: an
-- address someone typed is nobody's contact until its owner confirms.
CREATE TABLE forms (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    topic TEXT NOT NULL,
    -- JSON array of the attributes the form asks for besides the address.
    fields TEXT NOT NULL,
    wording TEXT NOT NULL,
    redirect_url TEXT,
    -- JSON array of the origins that may post to it from a browser (CORS).
    origins TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX forms_by_workspace ON forms(workspace_id, id);

CREATE TABLE form_submissions (
    id TEXT PRIMARY KEY,
    form_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    -- JSON object of the fields' values.
    fields TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    submitted_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    contact_id TEXT
);
CREATE INDEX form_submissions_by_address ON form_submissions(workspace_id, email_key, submitted_at);
-- The per-workspace daily cap counts by time alone.
CREATE INDEX form_submissions_by_time ON form_submissions(workspace_id, submitted_at);
