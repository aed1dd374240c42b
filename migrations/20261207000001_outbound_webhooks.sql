-- Outbound webhooks (Standard Webhooks): the operator's endpoints, the
-- transactional outbox of messages, one dispatch per (message, endpoint)
-- with its retry state, and every attempt. A message is inserted by the
-- transaction that made the change it reports, with its dispatches.

CREATE TABLE webhook_endpoints (
    workspace_id                uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                          uuid NOT NULL,
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    -- Catalogue names, or '*' for every type.
    event_types                 text[] NOT NULL,
    enabled                     boolean NOT NULL DEFAULT true,
    include_pii                 boolean NOT NULL DEFAULT false,
    -- whsec_…: needed in clear to sign; never returned after creation/rotation.
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    last_success_at             timestamptz,
    last_failure_at             timestamptz,
    -- The first failed attempt since the last success (cleared by a success).
    failing_since               timestamptz,
    disabled_reason             text,
    disabled_at                 timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT webhook_endpoints_event_types_check CHECK (cardinality(event_types) >= 1)
);

CREATE TABLE webhook_messages (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- UUIDv7, shown as msg_ + its Crockford base32 (sortable).
    id            uuid NOT NULL,
    type          text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    data          jsonb NOT NULL,
    -- Personal fields, merged into data only for endpoints with include_pii.
    pii           jsonb,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

CREATE INDEX webhook_messages_type ON webhook_messages (workspace_id, type, id);

CREATE TABLE webhook_dispatches (
    workspace_id     uuid NOT NULL,
    message_id       uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    status           text NOT NULL,
    -- Attempts made in all; the schedule restarts at `schedule_base` after a retry or recover.
    attempts         integer NOT NULL DEFAULT 0,
    schedule_base    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    PRIMARY KEY (workspace_id, message_id, endpoint_id),
    FOREIGN KEY (workspace_id, message_id) REFERENCES webhook_messages (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, endpoint_id) REFERENCES webhook_endpoints (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_dispatches_status_check CHECK (status IN ('pending', 'sending', 'delivered', 'failed'))
);

-- The claim: due work per endpoint, and what is in flight per endpoint.
CREATE INDEX webhook_dispatches_due ON webhook_dispatches (workspace_id, endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_dispatches_sending ON webhook_dispatches (workspace_id, endpoint_id, lease_until)
    WHERE status = 'sending';
-- Listing by endpoint and status; recover.
CREATE INDEX webhook_dispatches_endpoint ON webhook_dispatches (workspace_id, endpoint_id, status, message_id);

CREATE TABLE webhook_attempts (
    workspace_id  uuid NOT NULL,
    message_id    uuid NOT NULL,
    endpoint_id   uuid NOT NULL,
    number        integer NOT NULL,
    started_at    timestamptz NOT NULL,
    latency_ms    bigint NOT NULL,
    status_code   integer,
    -- At most 1 KiB of the receiver's answer.
    response      text,
    error         text,
    PRIMARY KEY (workspace_id, message_id, endpoint_id, number),
    FOREIGN KEY (workspace_id, message_id, endpoint_id)
        REFERENCES webhook_dispatches (workspace_id, message_id, endpoint_id) ON DELETE CASCADE
);

-- When the next retry is due (the workers sleep until then).
CREATE INDEX webhook_dispatches_next ON webhook_dispatches (next_attempt_at) WHERE status = 'pending';

-- Send health of a platform connection: failed SOP send attempts through
-- it in a row (reset by a success), for `connection.failing`.
ALTER TABLE connections
    ADD COLUMN send_failures       integer NOT NULL DEFAULT 0,
    ADD COLUMN send_failing_since  timestamptz,
    ADD COLUMN send_last_error     text;

-- The health status last announced per group (`group.health_changed`), and
-- the last local day judged per workspace (claimed by one instance).
CREATE TABLE group_health_states (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    group_id      uuid NOT NULL,
    status        text NOT NULL,
    score         integer NOT NULL,
    day           date NOT NULL,
    PRIMARY KEY (workspace_id, group_id),
    CONSTRAINT group_health_states_status_check CHECK (status IN ('healthy', 'declining', 'dead'))
);

CREATE TABLE group_health_checks (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE PRIMARY KEY,
    day           date NOT NULL
);
