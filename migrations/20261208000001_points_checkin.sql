-- Points (a per-member ledger of lots with expiry) and daily check-ins.
--
-- The guards are here, not in application code:
-- * `points_accounts.balance` is changed only by a guarded UPDATE
--   (`balance >= n` for spends) or under the row lock the update takes, so
--   concurrent spends of one balance cannot both succeed;
-- * `points_ledger_source_key` makes every grant idempotent by its source;
-- * `check_ins_day_key` allows one check-in per member, campaign and
--   check-in day, whatever number of requests race for it;
-- * `check_in_streak_rewards_key` grants each streak bonus of a run once.

ALTER TABLE workspaces
    ADD COLUMN points_expiry jsonb NOT NULL DEFAULT '{"kind": "never"}',
    ADD COLUMN points_clawback text NOT NULL DEFAULT 'allow_negative',
    ADD CONSTRAINT workspaces_points_clawback_check CHECK (points_clawback IN ('allow_negative', 'floor_zero')),
    ADD CONSTRAINT workspaces_points_expiry_object CHECK (jsonb_typeof(points_expiry) = 'object');

CREATE TABLE points_accounts (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    -- Negative only as a clawback debt (policy `allow_negative`).
    balance       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, member_id),
    CONSTRAINT points_accounts_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE points_ledger (
    workspace_id   uuid NOT NULL,
    id             uuid NOT NULL,
    member_id      uuid NOT NULL,
    delta          bigint NOT NULL,
    balance_after  bigint NOT NULL,
    kind           text NOT NULL,
    source_type    text NOT NULL,
    source_id      text NOT NULL,
    note           text NOT NULL DEFAULT '',
    occurred_at    timestamptz NOT NULL,
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT points_ledger_source_key UNIQUE (workspace_id, kind, source_type, source_id),
    CONSTRAINT points_ledger_kind_check CHECK (kind IN ('earn', 'spend', 'expire', 'clawback', 'adjust')),
    CONSTRAINT points_ledger_delta_check CHECK (delta <> 0 OR kind = 'clawback'),
    CONSTRAINT points_ledger_expiry_check CHECK (expires_at IS NULL OR (kind IN ('earn', 'adjust') AND delta > 0)),
    CONSTRAINT points_ledger_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES points_accounts (workspace_id, member_id) ON DELETE CASCADE
);
CREATE INDEX points_ledger_member_idx ON points_ledger (workspace_id, member_id, id DESC);

-- What is left of each earning, spent earliest expiry first.
CREATE TABLE points_lots (
    workspace_id  uuid NOT NULL,
    id            uuid NOT NULL,
    member_id     uuid NOT NULL,
    points        bigint NOT NULL,
    remaining     bigint NOT NULL,
    expires_at    timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT points_lots_remaining_check CHECK (points > 0 AND remaining >= 0 AND remaining <= points),
    CONSTRAINT points_lots_entry_fkey FOREIGN KEY (workspace_id, id)
        REFERENCES points_ledger (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX points_lots_open_idx ON points_lots (workspace_id, member_id, expires_at, id) WHERE remaining > 0;
CREATE INDEX points_lots_due_idx ON points_lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

-- Which lots a debit took from (a cancelled redemption gives them back).
CREATE TABLE points_lot_uses (
    workspace_id  uuid NOT NULL,
    entry_id      uuid NOT NULL,
    lot_id        uuid NOT NULL,
    points        bigint NOT NULL CHECK (points > 0),
    PRIMARY KEY (workspace_id, entry_id, lot_id),
    CONSTRAINT points_lot_uses_entry_fkey FOREIGN KEY (workspace_id, entry_id)
        REFERENCES points_ledger (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT points_lot_uses_lot_fkey FOREIGN KEY (workspace_id, lot_id)
        REFERENCES points_lots (workspace_id, id) ON DELETE CASCADE
);

-- One row per member and check-in campaign: the lock that serialises a
-- member's check-ins (streaks, makeups) and the running totals.
CREATE TABLE check_in_members (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    member_id     uuid NOT NULL,
    total_days    integer NOT NULL DEFAULT 0,
    last_day      date,
    PRIMARY KEY (workspace_id, campaign_id, member_id),
    CONSTRAINT check_in_members_campaign_fkey FOREIGN KEY (workspace_id, campaign_id)
        REFERENCES campaigns (workspace_id, id),
    CONSTRAINT check_in_members_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE check_ins (
    workspace_id    uuid NOT NULL,
    id              uuid NOT NULL,
    campaign_id     uuid NOT NULL,
    member_id       uuid NOT NULL,
    group_id        uuid,
    day             date NOT NULL,
    at              timestamptz NOT NULL,
    makeup          boolean NOT NULL DEFAULT false,
    streak          integer NOT NULL,
    points_awarded  bigint NOT NULL DEFAULT 0,
    channel         text NOT NULL DEFAULT 'api',
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT check_ins_day_key UNIQUE (workspace_id, campaign_id, member_id, day),
    CONSTRAINT check_ins_channel_check CHECK (channel IN ('api', 'chat')),
    CONSTRAINT check_ins_member_fkey FOREIGN KEY (workspace_id, campaign_id, member_id)
        REFERENCES check_in_members (workspace_id, campaign_id, member_id) ON DELETE CASCADE,
    CONSTRAINT check_ins_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE SET NULL (group_id)
);
CREATE INDEX check_ins_campaign_day_idx ON check_ins (workspace_id, campaign_id, day);

CREATE TABLE check_in_streak_rewards (
    workspace_id  uuid NOT NULL,
    id            uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    member_id     uuid NOT NULL,
    run_start     date NOT NULL,
    streak        integer NOT NULL,
    check_in_id   uuid NOT NULL,
    points        bigint NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT check_in_streak_rewards_key UNIQUE (workspace_id, campaign_id, member_id, run_start, streak),
    CONSTRAINT check_in_streak_rewards_check_in_fkey FOREIGN KEY (workspace_id, check_in_id)
        REFERENCES check_ins (workspace_id, id) ON DELETE CASCADE
);

-- A check-in made in chat may be answered in the group: the reply is a
-- delivery like an SOP send (same workers, limits and log), tied to its
-- check-in instead of a plan step; one reply per check-in.
ALTER TABLE deliveries
    ALTER COLUMN plan_id DROP NOT NULL,
    ALTER COLUMN step_id DROP NOT NULL,
    ADD COLUMN check_in_id uuid,
    ADD CONSTRAINT deliveries_origin_check
        CHECK ((plan_id IS NOT NULL AND step_id IS NOT NULL AND check_in_id IS NULL)
            OR (plan_id IS NULL AND step_id IS NULL AND check_in_id IS NOT NULL)),
    ADD CONSTRAINT deliveries_check_in_fkey FOREIGN KEY (workspace_id, check_in_id)
        REFERENCES check_ins (workspace_id, id) ON DELETE CASCADE;
CREATE UNIQUE INDEX deliveries_check_in_key ON deliveries (workspace_id, check_in_id) WHERE check_in_id IS NOT NULL;

-- Earning rules: points for paid orders (per unit of money) and for events
-- of a type (with an optional cap per member and local day).
CREATE TABLE points_rules (
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    name             text NOT NULL,
    trigger          text NOT NULL,
    event_type       text,
    points           bigint,
    points_per_unit  bigint,
    unit             bigint,
    daily_cap        bigint,
    tiers            text[],
    group_ids        uuid[],
    starts_at        timestamptz,
    ends_at          timestamptz,
    status           text NOT NULL DEFAULT 'active',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT points_rules_trigger_check CHECK (
        (trigger = 'order_paid' AND points_per_unit > 0 AND unit > 0 AND event_type IS NULL AND points IS NULL)
     OR (trigger = 'event' AND event_type IS NOT NULL AND points > 0 AND points_per_unit IS NULL AND unit IS NULL)),
    CONSTRAINT points_rules_status_check CHECK (status IN ('active', 'paused')),
    CONSTRAINT points_rules_period_check CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
);

-- Points an event rule gave a member on a local day (its daily cap).
CREATE TABLE points_rule_days (
    workspace_id  uuid NOT NULL,
    rule_id       uuid NOT NULL,
    member_id     uuid NOT NULL,
    day           date NOT NULL,
    points        bigint NOT NULL,
    PRIMARY KEY (workspace_id, rule_id, member_id, day),
    CONSTRAINT points_rule_days_rule_fkey FOREIGN KEY (workspace_id, rule_id)
        REFERENCES points_rules (workspace_id, id) ON DELETE CASCADE
);

-- What each paid order earned, to take it back (in proportion) on refund.
CREATE TABLE points_order_grants (
    workspace_id  uuid NOT NULL,
    order_id      text NOT NULL,
    member_id     uuid NOT NULL,
    amount        bigint NOT NULL,
    points        bigint NOT NULL,
    clawed_back   bigint NOT NULL DEFAULT 0,
    entry_id      uuid NOT NULL,
    PRIMARY KEY (workspace_id, order_id),
    CONSTRAINT points_order_grants_clawed_check CHECK (clawed_back >= 0 AND clawed_back <= points),
    CONSTRAINT points_order_grants_entry_fkey FOREIGN KEY (workspace_id, entry_id)
        REFERENCES points_ledger (workspace_id, id) ON DELETE CASCADE
);

-- The points mall (积分商城): items bought with points, and redemptions.
-- The stock guard is `mall_items_stock_check` with a guarded decrement; a
-- member's limit is counted under the lock of their points account.
CREATE TABLE mall_items (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    kind           text NOT NULL,
    points_cost    bigint NOT NULL,
    stock          bigint,
    limit_count    integer,
    limit_period   text,
    tiers          text[],
    starts_at      timestamptz,
    ends_at        timestamptz,
    status         text NOT NULL DEFAULT 'active',
    auto_fulfil    boolean NOT NULL DEFAULT false,
    image_url      text,
    redeemed       bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT mall_items_kind_check CHECK (kind IN ('goods', 'custom', 'coupon', 'lottery_entry')),
    CONSTRAINT mall_items_cost_check CHECK (points_cost > 0),
    CONSTRAINT mall_items_stock_check CHECK (stock IS NULL OR stock >= 0),
    CONSTRAINT mall_items_limit_check CHECK ((limit_count IS NULL) = (limit_period IS NULL) AND (limit_count IS NULL OR limit_count > 0)),
    CONSTRAINT mall_items_period_check CHECK (limit_period IN ('day', 'week', 'month', 'ever')),
    CONSTRAINT mall_items_status_check CHECK (status IN ('active', 'paused', 'archived')),
    CONSTRAINT mall_items_window_check CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
);

CREATE TABLE mall_redemptions (
    workspace_id   uuid NOT NULL,
    id             uuid NOT NULL,
    item_id        uuid NOT NULL,
    member_id      uuid NOT NULL,
    quantity       integer NOT NULL,
    points_spent   bigint NOT NULL,
    status         text NOT NULL,
    entry_id       uuid NOT NULL,
    tracking       text,
    fulfilled_at   timestamptz,
    cancelled_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT mall_redemptions_quantity_check CHECK (quantity > 0),
    CONSTRAINT mall_redemptions_status_check CHECK (status IN ('pending_fulfilment', 'fulfilled', 'cancelled')),
    CONSTRAINT mall_redemptions_item_fkey FOREIGN KEY (workspace_id, item_id) REFERENCES mall_items (workspace_id, id),
    CONSTRAINT mall_redemptions_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT mall_redemptions_entry_fkey FOREIGN KEY (workspace_id, entry_id)
        REFERENCES points_ledger (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX mall_redemptions_member_idx ON mall_redemptions (workspace_id, member_id, item_id, created_at);
CREATE INDEX mall_redemptions_item_idx ON mall_redemptions (workspace_id, item_id, id);

-- Automatic tiers: one ordered rule set per workspace, the members below
-- their tier's rules (the downgrade grace) and the local day evaluated.
CREATE TABLE tier_rule_sets (
    workspace_id          uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    rules                 jsonb NOT NULL,
    default_tier          text,
    downgrade_grace_days  integer NOT NULL DEFAULT 0,
    manual_lock_days      integer NOT NULL DEFAULT 0,
    enabled               boolean NOT NULL DEFAULT true,
    evaluated_day         date,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tier_rule_sets_rules_array CHECK (jsonb_typeof(rules) = 'array'),
    CONSTRAINT tier_rule_sets_days_check CHECK (downgrade_grace_days BETWEEN 0 AND 366 AND manual_lock_days BETWEEN 0 AND 3660),
    CONSTRAINT tier_rule_sets_default_fkey FOREIGN KEY (workspace_id, default_tier)
        REFERENCES tiers (workspace_id, key) ON UPDATE CASCADE
);

CREATE TABLE tier_rule_grace (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    below_since   date NOT NULL,
    PRIMARY KEY (workspace_id, member_id),
    CONSTRAINT tier_rule_grace_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE
);
