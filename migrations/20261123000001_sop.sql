-- SOP content plans: the content library, plans and their steps, the
-- schedule state the scheduler advances, deliveries and their attempts.

CREATE TABLE contents (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL,
    -- The kind's fields (text, title, description, url, image_url, app_id, page_path, file_name).
    body          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT contents_name_key UNIQUE (workspace_id, name),
    CONSTRAINT contents_kind_check CHECK (kind IN ('text', 'link', 'image', 'mini_program', 'file'))
);

CREATE TABLE sop_plans (
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'active',
    target_layer_id  uuid,
    target_tier      text,
    campaign_id      uuid,
    connection_id    uuid,
    quiet_start      text,
    quiet_end        text,
    jitter_seconds   integer NOT NULL DEFAULT 0,
    starts_on        date,
    ends_on          date,
    -- When the plan last became active or was edited: slots before it never fire.
    effective_from   timestamptz NOT NULL,
    -- Joins and group creations from this instant on start relative steps.
    anchor_from      timestamptz NOT NULL,
    -- The last sync of the schedules with the plan's targets and new joins.
    synced_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT sop_plans_name_key UNIQUE (workspace_id, name),
    CONSTRAINT sop_plans_status_check CHECK (status IN ('active', 'paused', 'archived')),
    CONSTRAINT sop_plans_jitter_check CHECK (jitter_seconds BETWEEN 0 AND 3600),
    CONSTRAINT sop_plans_dates_check CHECK (starts_on IS NULL OR ends_on IS NULL OR ends_on >= starts_on),
    CONSTRAINT sop_plans_layer_fkey FOREIGN KEY (workspace_id, target_layer_id) REFERENCES layers (workspace_id, id),
    CONSTRAINT sop_plans_tier_fkey FOREIGN KEY (workspace_id, target_tier)
        REFERENCES tiers (workspace_id, key) ON UPDATE CASCADE,
    CONSTRAINT sop_plans_campaign_fkey FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id),
    CONSTRAINT sop_plans_connection_fkey FOREIGN KEY (workspace_id, connection_id)
        REFERENCES connections (workspace_id, id)
);
CREATE INDEX sop_plans_sync_idx ON sop_plans (synced_at NULLS FIRST) WHERE status = 'active';

CREATE TABLE sop_plan_groups (
    workspace_id  uuid NOT NULL,
    plan_id       uuid NOT NULL,
    group_id      uuid NOT NULL,
    PRIMARY KEY (workspace_id, plan_id, group_id),
    FOREIGN KEY (workspace_id, plan_id) REFERENCES sop_plans (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT sop_plan_groups_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE sop_steps (
    workspace_id  uuid NOT NULL,
    id            uuid NOT NULL,
    plan_id       uuid NOT NULL,
    position      integer NOT NULL,
    content_id    uuid NOT NULL,
    timing        jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT sop_steps_position_key UNIQUE (workspace_id, plan_id, position),
    FOREIGN KEY (workspace_id, plan_id) REFERENCES sop_plans (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT sop_steps_content_fkey FOREIGN KEY (workspace_id, content_id) REFERENCES contents (workspace_id, id)
);

-- The next slot of each (step, group[, member]). `member_id` is the nil UUID
-- for group-level steps. `next_slot_at` is the nominal local time as UTC;
-- `next_fire_at` adds quiet hours and jitter; both NULL once finished.
CREATE TABLE sop_schedules (
    workspace_id  uuid NOT NULL,
    step_id       uuid NOT NULL,
    group_id      uuid NOT NULL,
    member_id     uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    plan_id       uuid NOT NULL,
    anchor_at     timestamptz,
    next_slot_at  timestamptz,
    next_fire_at  timestamptz,
    PRIMARY KEY (workspace_id, step_id, group_id, member_id),
    FOREIGN KEY (workspace_id, step_id) REFERENCES sop_steps (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX sop_schedules_due_idx ON sop_schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX sop_schedules_plan_idx ON sop_schedules (workspace_id, plan_id);

-- One row per (step, group, member, slot): the database, not a leader,
-- guarantees that several schedulers create one delivery per slot.
CREATE TABLE deliveries (
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                   uuid NOT NULL,
    plan_id              uuid NOT NULL,
    step_id              uuid NOT NULL,
    group_id             uuid NOT NULL,
    member_id            uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    content_id           uuid NOT NULL,
    connection_id        uuid,
    channel              text NOT NULL,
    slot_at              timestamptz NOT NULL,
    fire_at              timestamptz NOT NULL,
    local_time           text NOT NULL,
    state                text NOT NULL,
    message              jsonb NOT NULL,
    attempts             integer NOT NULL DEFAULT 0,
    -- Attempts made before the last manual retry (the budget restarts there).
    attempts_base        integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz,
    lease_until          timestamptz,
    sent_at              timestamptz,
    lateness_ms          bigint,
    platform_message_id  text,
    last_error           text,
    reminders            integer NOT NULL DEFAULT 0,
    next_reminder_at     timestamptz,
    confirmed_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT deliveries_slot_key UNIQUE (workspace_id, step_id, group_id, member_id, slot_at),
    CONSTRAINT deliveries_state_check CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dead', 'missed',
        'awaiting_confirmation', 'confirmed', 'uncertain')),
    FOREIGN KEY (workspace_id, plan_id) REFERENCES sop_plans (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state IN ('pending', 'failed');
CREATE INDEX deliveries_lease_idx ON deliveries (lease_until) WHERE state = 'sending';
CREATE INDEX deliveries_reminder_idx ON deliveries (next_reminder_at) WHERE state = 'awaiting_confirmation';
CREATE INDEX deliveries_plan_idx ON deliveries (workspace_id, plan_id, slot_at);
CREATE INDEX deliveries_group_idx ON deliveries (workspace_id, group_id, slot_at);
CREATE INDEX deliveries_list_idx ON deliveries (workspace_id, id);

CREATE TABLE delivery_attempts (
    workspace_id  uuid NOT NULL,
    delivery_id   uuid NOT NULL,
    number        integer NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    outcome       text NOT NULL,
    http_status   integer,
    -- The platform's answer, truncated; never holds credentials.
    response      text,
    error         text,
    PRIMARY KEY (workspace_id, delivery_id, number),
    FOREIGN KEY (workspace_id, delivery_id) REFERENCES deliveries (workspace_id, id) ON DELETE CASCADE
);

-- Per-group bot endpoints whose key belongs to one group (WeCom group robot,
-- Feishu custom bot). Write-only like connection credentials.
CREATE TABLE group_robots (
    workspace_id  uuid NOT NULL,
    group_id      uuid NOT NULL,
    kind          text NOT NULL,
    credentials   jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, group_id),
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_robots_kind_check CHECK (kind IN ('wecom_robot', 'feishu_bot'))
);
