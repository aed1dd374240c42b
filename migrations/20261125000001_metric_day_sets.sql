-- Per-day member sets: what dashboards read instead of one row per member
-- and day. A report over 30 days of a workspace reads ~60 rows of arrays and
-- does set arithmetic in memory, instead of ~1M member-day rows.

-- A dense number per member of a workspace (0, 1, 2, …), given by the
-- rollup worker (one roller at a time) the first time the member has a
-- rolled-up event. Sets are lists (and, in memory, bitmaps) of these.
-- first_active: the member's first local day with an active event in the
-- workspace (any group), kept by the worker (events are append-only, so it
-- only moves earlier; a full rebuild recomputes it).
CREATE TABLE metric_member_index (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    idx           integer NOT NULL,
    first_active  date,
    CONSTRAINT metric_member_index_pkey PRIMARY KEY (workspace_id, member_id),
    CONSTRAINT metric_member_index_idx_key UNIQUE (workspace_id, idx)
);
CREATE INDEX metric_member_index_first_active_idx ON metric_member_index (workspace_id, first_active);

-- Per group (the nil uuid: events naming no group) and local day: the
-- members active in the group, the members who sent messages and how many
-- (parallel lists), sorted by member index. Each list is packed 4-byte
-- big-endian integers (int4send), so a read is a copy, not an array
-- conversion per element. Derived from metric_member_days by the rollup
-- worker whenever it recomputes a day.
CREATE TABLE metric_group_days (
    workspace_id  uuid NOT NULL,
    day           date NOT NULL,
    group_id      uuid NOT NULL,
    active        bytea NOT NULL,
    senders       bytea NOT NULL,
    sent          bytea NOT NULL,
    CONSTRAINT metric_group_days_pkey PRIMARY KEY (workspace_id, day, group_id)
);

-- The same for the whole workspace (every group and no group) per local day.
CREATE TABLE metric_days (
    workspace_id  uuid NOT NULL,
    day           date NOT NULL,
    active        bytea NOT NULL,
    senders       bytea NOT NULL,
    sent          bytea NOT NULL,
    CONSTRAINT metric_days_pkey PRIMARY KEY (workspace_id, day)
);

-- Staff and bots are masked out of the sets per request: find them without
-- reading every member.
CREATE INDEX members_staff_idx ON members (workspace_id) WHERE is_staff OR is_bot;

-- Build the sets of every existing day.
INSERT INTO metric_dirty_days (workspace_id, day) SELECT id, NULL FROM workspaces;
