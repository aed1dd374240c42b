-- Metric rollups. Dashboards read these, never the raw events; a rollup
-- worker keeps them exact by recomputing every local day that received
-- events (late ones included) from the events themselves.

-- Which event types make a member "active" (joins and leaves never do).
ALTER TABLE workspaces ADD COLUMN active_event_types text[] NOT NULL
    DEFAULT ARRAY['message_sent', 'checked_in', 'link_clicked', 'coupon_claimed', 'order_placed', 'order_paid'];

-- One row per member, group and local day (workspace timezone) with events.
-- group_id is the nil uuid for events that name no group.
CREATE TABLE metric_member_days (
    workspace_id      uuid NOT NULL,
    day               date NOT NULL,
    group_id          uuid NOT NULL,
    member_id         uuid NOT NULL,
    events            integer NOT NULL,
    active_events     integer NOT NULL,
    messages          integer NOT NULL,
    check_ins         integer NOT NULL,
    link_clicks       integer NOT NULL,
    coupons_claimed   integer NOT NULL,
    coupons_redeemed  integer NOT NULL,
    orders_placed     integer NOT NULL,
    orders_paid       integer NOT NULL,
    invites           integer NOT NULL,
    first_active_at   timestamptz,
    CONSTRAINT metric_member_days_pkey PRIMARY KEY (workspace_id, day, group_id, member_id)
);
CREATE INDEX metric_member_days_member_idx ON metric_member_days (workspace_id, member_id, day);
CREATE INDEX metric_member_days_group_idx ON metric_member_days (workspace_id, group_id, day);

-- One row per paid or refunded order: the order's payment (one per order,
-- see order_payments) and its first refund.
CREATE TABLE metric_orders (
    workspace_id    uuid NOT NULL,
    order_id        text NOT NULL,
    member_id       uuid,
    group_id        uuid,
    campaign_id     uuid,
    currency        text,
    paid_event_id   uuid,
    paid_at         timestamptz,
    amount          bigint,
    refund_event_id uuid,
    refunded_at     timestamptz,
    refund_amount   bigint,
    CONSTRAINT metric_orders_pkey PRIMARY KEY (workspace_id, order_id)
);
CREATE INDEX metric_orders_paid_idx ON metric_orders (workspace_id, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX metric_orders_refund_idx ON metric_orders (workspace_id, refunded_at) WHERE refunded_at IS NOT NULL;

-- Link clicks that name a campaign: last-click attribution of orders.
CREATE TABLE metric_campaign_clicks (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    clicked_at    timestamptz NOT NULL,
    event_id      uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    CONSTRAINT metric_campaign_clicks_pkey PRIMARY KEY (workspace_id, member_id, clicked_at, event_id)
);

-- Local days whose rollups must be recomputed (day NULL: every day, after
-- the timezone or the active set changed). Append-only, so concurrent
-- ingestion never waits on it; the rollup worker deletes what it handled.
CREATE TABLE metric_dirty_days (
    workspace_id  uuid NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    day           date,
    queued_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT metric_dirty_days_pkey PRIMARY KEY (workspace_id, id)
);
CREATE INDEX metric_dirty_days_id_idx ON metric_dirty_days (id);


-- Existing events are rolled up by the worker on first start.
INSERT INTO metric_dirty_days (workspace_id, day) SELECT id, NULL FROM workspaces;
