-- Platform connections and the webhook inbox.

CREATE TABLE connections (
    workspace_id          uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                    uuid NOT NULL,
    platform              text NOT NULL,
    name                  text NOT NULL,
    status                text NOT NULL DEFAULT 'active',
    -- Write-only: never returned by the API, never logged.
    credentials           jsonb NOT NULL,
    previous_credentials  jsonb,
    previous_valid_until  timestamptz,
    settings              jsonb NOT NULL DEFAULT '{}',
    last_received_at      timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT connections_platform_check CHECK (platform IN ('wecom', 'telegram', 'slack', 'feishu', 'dingtalk', 'generic')),
    CONSTRAINT connections_status_check CHECK (status IN ('active', 'disabled'))
);
-- Webhooks address a connection by id alone (a reference lookup when distributed).
CREATE UNIQUE INDEX connections_id_key ON connections (id);

-- Every verified webhook request, stored before it is acknowledged.
CREATE TABLE inbox (
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    connection_id    uuid NOT NULL,
    platform         text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    query            text NOT NULL DEFAULT '',
    headers          jsonb NOT NULL DEFAULT '{}',
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'received',
    attempts         integer NOT NULL DEFAULT 0,
    error            text,
    events_accepted  integer NOT NULL DEFAULT 0,
    events_duplicate integer NOT NULL DEFAULT 0,
    processed_at     timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT inbox_connection_fkey FOREIGN KEY (workspace_id, connection_id)
        REFERENCES connections (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT inbox_status_check CHECK (status IN ('received', 'processed', 'failed'))
);
CREATE INDEX inbox_pending_idx ON inbox (received_at) WHERE status = 'received';
CREATE INDEX inbox_status_idx ON inbox (workspace_id, status, id);
