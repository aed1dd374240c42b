-- Shequn foundation schema.
-- Every table carries workspace_id in its primary key and in every foreign
-- key, so the schema can be distributed by workspace (Citus) later.
-- Constraints are named: the API maps them to 409/422 where queries are made.

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
    currency    text NOT NULL DEFAULT 'CNY',
    week_start  text NOT NULL DEFAULT 'monday',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_name_key UNIQUE (name),
    CONSTRAINT workspaces_week_start_check CHECK (week_start IN ('monday', 'sunday', 'saturday')),
    CONSTRAINT workspaces_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);

-- Looked up by hash before the workspace is known: a reference table when distributed.
CREATE TABLE api_keys (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL DEFAULT '',
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL,
    role          text NOT NULL,
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_role_check CHECK (role IN ('owner', 'admin', 'operator', 'viewer'))
);

CREATE TABLE tiers (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    key           text NOT NULL,
    name          text NOT NULL,
    rank          integer NOT NULL,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT tiers_key_key UNIQUE (workspace_id, key)
);

CREATE TABLE tags (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    color         text,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT tags_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE members (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    display_name    text NOT NULL DEFAULT '',
    phone           text,
    email           text,
    attributes      jsonb NOT NULL DEFAULT '{}',
    is_staff        boolean NOT NULL DEFAULT false,
    is_bot          boolean NOT NULL DEFAULT false,
    tier            text,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_active_at  timestamptz,
    erased_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT members_tier_fkey FOREIGN KEY (workspace_id, tier)
        REFERENCES tiers (workspace_id, key) ON UPDATE CASCADE,
    CONSTRAINT members_attributes_object CHECK (jsonb_typeof(attributes) = 'object')
);
CREATE INDEX members_tier_idx ON members (workspace_id, tier);

CREATE TABLE member_identities (
    workspace_id  uuid NOT NULL,
    platform      text NOT NULL,
    external_id   text NOT NULL,
    member_id     uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT member_identities_pkey PRIMARY KEY (workspace_id, platform, external_id),
    CONSTRAINT member_identities_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX member_identities_member_idx ON member_identities (workspace_id, member_id);

CREATE TABLE member_tags (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    tag_id        uuid NOT NULL,
    PRIMARY KEY (workspace_id, member_id, tag_id),
    FOREIGN KEY (workspace_id, member_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, tag_id) REFERENCES tags (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX member_tags_tag_idx ON member_tags (workspace_id, tag_id);

CREATE TABLE member_tier_changes (
    workspace_id  uuid NOT NULL,
    id            uuid NOT NULL,
    member_id     uuid NOT NULL,
    from_tier     text,
    to_tier       text,
    reason        text NOT NULL DEFAULT '',
    actor_type    text NOT NULL,
    actor_id      uuid,
    changed_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, member_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT member_tier_changes_actor_check CHECK (actor_type IN ('api_key', 'rule', 'system', 'cli'))
);
CREATE INDEX member_tier_changes_member_idx ON member_tier_changes (workspace_id, member_id, changed_at);

CREATE TABLE staff (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    persona       text NOT NULL,
    identities    jsonb NOT NULL DEFAULT '[]',
    member_id     uuid,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT staff_persona_check CHECK (persona IN ('owner', 'expert', 'assistant', 'bot')),
    CONSTRAINT staff_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE SET NULL (member_id)
);

CREATE TABLE groups (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    platform        text NOT NULL,
    external_id     text NOT NULL,
    name            text NOT NULL,
    timezone        text,
    region          text,
    category        text,
    tier            text,
    owner_staff_id  uuid,
    status          text NOT NULL DEFAULT 'active',
    notice          text NOT NULL DEFAULT '',
    rules           text NOT NULL DEFAULT '',
    attributes      jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT groups_platform_external_id_key UNIQUE (workspace_id, platform, external_id),
    CONSTRAINT groups_status_check CHECK (status IN ('active', 'archived', 'dismissed')),
    CONSTRAINT groups_tier_fkey FOREIGN KEY (workspace_id, tier)
        REFERENCES tiers (workspace_id, key) ON UPDATE CASCADE,
    CONSTRAINT groups_owner_staff_fkey FOREIGN KEY (workspace_id, owner_staff_id)
        REFERENCES staff (workspace_id, id) ON DELETE SET NULL (owner_staff_id)
);
CREATE INDEX groups_tier_idx ON groups (workspace_id, tier);

CREATE TABLE group_tags (
    workspace_id  uuid NOT NULL,
    group_id      uuid NOT NULL,
    tag_id        uuid NOT NULL,
    PRIMARY KEY (workspace_id, group_id, tag_id),
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, tag_id) REFERENCES tags (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX group_tags_tag_idx ON group_tags (workspace_id, tag_id);

CREATE TABLE group_staff (
    workspace_id  uuid NOT NULL,
    group_id      uuid NOT NULL,
    staff_id      uuid NOT NULL,
    role          text NOT NULL,
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, group_id, staff_id),
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, staff_id) REFERENCES staff (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_staff_role_check CHECK (role IN ('owner', 'expert', 'assistant', 'bot'))
);
CREATE INDEX group_staff_staff_idx ON group_staff (workspace_id, staff_id);

CREATE TABLE memberships (
    workspace_id  uuid NOT NULL,
    id            uuid NOT NULL,
    group_id      uuid NOT NULL,
    member_id     uuid NOT NULL,
    joined_at     timestamptz NOT NULL,
    left_at       timestamptz,
    source        text NOT NULL DEFAULT 'unknown',
    inviter_id    uuid,
    invite_code   text,
    leave_reason  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT memberships_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT memberships_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT memberships_inviter_fkey FOREIGN KEY (workspace_id, inviter_id)
        REFERENCES members (workspace_id, id) ON DELETE SET NULL (inviter_id),
    CONSTRAINT memberships_left_after_joined CHECK (left_at IS NULL OR left_at >= joined_at)
);
-- At most one open stint per (group, member).
CREATE UNIQUE INDEX memberships_one_open_stint ON memberships (workspace_id, group_id, member_id)
    WHERE left_at IS NULL;
CREATE INDEX memberships_group_idx ON memberships (workspace_id, group_id, joined_at);
CREATE INDEX memberships_member_idx ON memberships (workspace_id, member_id, joined_at);
CREATE INDEX memberships_inviter_idx ON memberships (workspace_id, inviter_id) WHERE inviter_id IS NOT NULL;

CREATE TABLE layers (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    selector      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT layers_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE campaigns (
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    scene            text NOT NULL,
    kind             text NOT NULL,
    status           text NOT NULL DEFAULT 'draft',
    starts_at        timestamptz,
    ends_at          timestamptz,
    target_layer_id  uuid,
    tracking_code    text NOT NULL,
    link             text,
    settings         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT campaigns_tracking_code_key UNIQUE (workspace_id, tracking_code),
    CONSTRAINT campaigns_scene_check CHECK (scene IN ('fission', 'retention', 'activity', 'conversion')),
    CONSTRAINT campaigns_kind_check CHECK (kind IN ('check_in', 'coupon', 'flash_sale', 'lottery', 'group_buy', 'referral', 'content', 'custom')),
    CONSTRAINT campaigns_status_check CHECK (status IN ('draft', 'scheduled', 'running', 'ended', 'cancelled')),
    CONSTRAINT campaigns_period_check CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at),
    CONSTRAINT campaigns_target_layer_fkey FOREIGN KEY (workspace_id, target_layer_id)
        REFERENCES layers (workspace_id, id)
);

CREATE TABLE campaign_groups (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    group_id      uuid NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, group_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT campaign_groups_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE audit_log (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor_type     text NOT NULL,
    actor_id       uuid,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text,
    request_id     text,
    details        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE idempotency_keys (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key            text NOT NULL,
    method         text NOT NULL,
    path           text NOT NULL,
    request_hash   bytea NOT NULL,
    status_code    integer,
    response_body  bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
