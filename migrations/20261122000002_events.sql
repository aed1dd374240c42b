-- The funnel event store: append-only, partitioned by month on occurred_at,
-- with a default partition so no event is ever refused for its date.
-- Dedupe: the primary key (workspace_id, id, occurred_at) — a redelivery of
-- the same event carries the same id and source time. No foreign keys on
-- this hot path: ingestion resolves every id inside the workspace first.

CREATE TABLE events (
    workspace_id   uuid NOT NULL,
    id             uuid NOT NULL,
    type           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    group_id       uuid,
    member_id      uuid,
    campaign_id    uuid,
    campaign_code  text,
    order_id       text,
    amount         bigint,
    currency       text,
    properties     jsonb NOT NULL DEFAULT '{}',
    source         text NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (workspace_id, id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_time_idx ON events (workspace_id, occurred_at);
CREATE INDEX events_member_idx ON events (workspace_id, member_id, occurred_at) WHERE member_id IS NOT NULL;
CREATE INDEX events_group_idx ON events (workspace_id, group_id, occurred_at) WHERE group_id IS NOT NULL;

-- One payment per order: order_paid dedupes on the order id.
CREATE TABLE order_payments (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    order_id      text NOT NULL,
    event_id      uuid NOT NULL,
    paid_at       timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, order_id)
);

-- Creates the monthly partition holding `month` unless it exists, moving any
-- rows of that month out of the default partition first.
CREATE FUNCTION shequn_ensure_event_partition(month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', month::timestamp) AT TIME ZONE 'UTC';
    hi   timestamptz := (date_trunc('month', month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    name text := format('events_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', lo, hi, name);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN true;
END $$;

-- The months around now exist from the start; the server keeps them ahead.
SELECT shequn_ensure_event_partition((date_trunc('month', now()) + make_interval(months => m))::date)
FROM generate_series(-1, 3) AS m;
