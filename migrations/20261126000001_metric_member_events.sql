-- Funnel timelines: what a funnel reads instead of the raw events of every
-- member who started it. A funnel follows each starter's events in time
-- order; reading them from `events` costs one heap fetch per event (~100,000
-- for a 30-day funnel at 10M events). Here a member's events of a local
-- month are one packed value: the funnel finds its starters in one row per
-- day and reads one or two rows per starter.

-- Per member (by number, see metric_member_index) and local day: the
-- member's events of built-in types (custom types are not here; funnels
-- with custom steps read the raw events), in (occurred_at, id) order. Each
-- event is packed as
--   int2  (type code << 8) | flags    type code: 0-based index in TYPES (events::model)
--                                     flags: 1 group, 2 campaign id, 4 campaign code
--   int8  occurred_at, microseconds since the Unix epoch
--   16 B  group id            (flag 1)
--   16 B  campaign id         (flag 2)
--   int2  code length, bytes  (flag 4; UTF-8)
-- all big-endian (int2send/int8send/uuid_send). `types` has bit `code` set for
-- each type present. Derived from the raw events whenever the rollup worker
-- recomputes a day.
CREATE TABLE metric_member_events (
    workspace_id  uuid NOT NULL,
    member_idx    integer NOT NULL,
    day           date NOT NULL,
    types         integer NOT NULL,
    data          bytea NOT NULL,
    CONSTRAINT metric_member_events_pkey PRIMARY KEY (workspace_id, member_idx, day)
);
CREATE INDEX metric_member_events_day_idx ON metric_member_events (workspace_id, day);
-- Packed values are read whole: never compress them.
ALTER TABLE metric_member_events ALTER COLUMN data SET STORAGE EXTERNAL;

-- The same per member and local month (`month`: its first day), the days'
-- values concatenated in day order: what a funnel reads (one row per starter
-- and month instead of one per starter and day). Rebuilt from the day rows
-- for every member and month whose days the worker recomputes. Values stay
-- in the row up to ~8 kB (most members' months), read without detoasting.
CREATE TABLE metric_member_months (
    workspace_id  uuid NOT NULL,
    member_idx    integer NOT NULL,
    month         date NOT NULL,
    data          bytea NOT NULL,
    CONSTRAINT metric_member_months_pkey PRIMARY KEY (workspace_id, member_idx, month)
) WITH (toast_tuple_target = 8160);
ALTER TABLE metric_member_months ALTER COLUMN data SET STORAGE EXTERNAL;

-- Per local day and built-in type: the sorted numbers of the members with an
-- event of that type, so a funnel finds the members whose step 1 falls in its
-- range without reading the events. An array (not packed): the funnel's query
-- unnests it in the database instead of sending it back.
CREATE TABLE metric_type_days (
    workspace_id  uuid NOT NULL,
    day           date NOT NULL,
    type_code     smallint NOT NULL,
    members       integer[] NOT NULL,
    CONSTRAINT metric_type_days_pkey PRIMARY KEY (workspace_id, day, type_code)
);

-- Staff and bots of each workspace, with their member number once they have
-- one: the mask every report applies (unless include_staff), read as one
-- index range instead of one probe of the member index per staff member.
-- Kept by triggers on members, in the transaction that changes the flags; the
-- rollup worker fills in numbers given later (until then, or when a member
-- is numbered while becoming staff, reports probe the member index for it).
CREATE TABLE metric_excluded (
    workspace_id  uuid NOT NULL,
    member_id     uuid NOT NULL,
    idx           integer,
    CONSTRAINT metric_excluded_pkey PRIMARY KEY (workspace_id, member_id)
);

CREATE FUNCTION metric_excluded_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM metric_excluded WHERE workspace_id = OLD.workspace_id AND member_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (NEW.is_staff OR NEW.is_bot) THEN
        INSERT INTO metric_excluded (workspace_id, member_id, idx)
        VALUES (NEW.workspace_id, NEW.id,
                (SELECT i.idx FROM metric_member_index i
                 WHERE i.workspace_id = NEW.workspace_id AND i.member_id = NEW.id))
        ON CONFLICT (workspace_id, member_id) DO UPDATE SET idx = EXCLUDED.idx;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER members_excluded_insert AFTER INSERT ON members
    FOR EACH ROW WHEN (NEW.is_staff OR NEW.is_bot) EXECUTE FUNCTION metric_excluded_sync();
CREATE TRIGGER members_excluded_update AFTER UPDATE OF is_staff, is_bot ON members
    FOR EACH ROW WHEN ((OLD.is_staff OR OLD.is_bot) IS DISTINCT FROM (NEW.is_staff OR NEW.is_bot))
    EXECUTE FUNCTION metric_excluded_sync();
CREATE TRIGGER members_excluded_delete AFTER DELETE ON members
    FOR EACH ROW WHEN (OLD.is_staff OR OLD.is_bot) EXECUTE FUNCTION metric_excluded_sync();

INSERT INTO metric_excluded (workspace_id, member_id, idx)
SELECT m.workspace_id, m.id, i.idx FROM members m
LEFT JOIN metric_member_index i ON i.workspace_id = m.workspace_id AND i.member_id = m.id
WHERE m.is_staff OR m.is_bot;

-- Build them for every existing day.
INSERT INTO metric_dirty_days (workspace_id, day) SELECT id, NULL FROM workspaces;
