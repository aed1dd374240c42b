-- Channel entry links (渠道活码): one stable link per channel that sends a
-- visitor to the invite link of the group it currently routes to.
ALTER TABLE groups ADD COLUMN invite_url text;

CREATE TABLE channels (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    name                text NOT NULL,
    source              text NOT NULL,
    target              jsonb NOT NULL,
    capacity_per_group  integer NOT NULL,
    strategy            text NOT NULL,
    -- The public code of `/c/{code}`: unique across workspaces.
    code                text NOT NULL,
    status              text NOT NULL DEFAULT 'active',
    -- Round robin: raised by each visit routed (a guarded counter).
    turn                bigint NOT NULL DEFAULT 0,
    -- Set when a visit first finds every group full (one `channel.full`
    -- per spell), cleared when a group takes joiners again.
    full_since          timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT channels_code_key UNIQUE (code),
    CONSTRAINT channels_name_key UNIQUE (workspace_id, name),
    CONSTRAINT channels_capacity_check CHECK (capacity_per_group BETWEEN 1 AND 100000),
    CONSTRAINT channels_strategy_check CHECK (strategy IN ('fill_in_order', 'round_robin')),
    CONSTRAINT channels_status_check CHECK (status IN ('active', 'paused', 'archived'))
);
