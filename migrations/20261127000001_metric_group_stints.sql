-- Membership stints per group, packed: what the activity (who belonged on a
-- day), health (members, joins, leaves, joiners who stayed) and retention
-- (first join, still a member) reports read instead of every membership
-- row of the workspace (~100,000 rows joined to the member index, ~90 ms,
-- for each report of a 100,000-member workspace).
--
-- One row per group holding every stint of the group that has a length
-- (a stint left at the instant it began never counts), ordered by member
-- number and join instant, each packed as
--   int4  member number (metric_member_index.idx)
--   int8  joined_at, microseconds since the Unix epoch
--   int8  left_at, the same; 9223372036854775807 while the stint is open
-- all big-endian (int4send/int8send). Instants, not local days, so one row
-- serves every timezone. Staff and bots are in (masked per request).
CREATE TABLE metric_group_stints (
    workspace_id  uuid NOT NULL,
    group_id      uuid NOT NULL,
    stints        integer NOT NULL,
    data          bytea NOT NULL,
    CONSTRAINT metric_group_stints_pkey PRIMARY KEY (workspace_id, group_id)
);
-- Packed values are read whole: never compress them.
ALTER TABLE metric_group_stints ALTER COLUMN data SET STORAGE EXTERNAL;

-- Groups whose stints changed since their row was packed. Appended by the
-- triggers below in the transaction that changes a membership, so a report
-- that sees the change sees the group as dirty (and reads its stints from
-- `memberships`) until the rollup worker repacks the row and deletes the
-- queue rows in one transaction. Append-only: concurrent writers never wait
-- on each other here.
CREATE TABLE metric_dirty_stints (
    workspace_id  uuid NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    group_id      uuid NOT NULL,
    CONSTRAINT metric_dirty_stints_pkey PRIMARY KEY (workspace_id, id)
);
CREATE INDEX metric_dirty_stints_group_idx ON metric_dirty_stints (workspace_id, group_id);

CREATE FUNCTION metric_dirty_stints_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO metric_dirty_stints (workspace_id, group_id) VALUES (OLD.workspace_id, OLD.group_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.workspace_id, NEW.group_id) <> (OLD.workspace_id, OLD.group_id)) THEN
        INSERT INTO metric_dirty_stints (workspace_id, group_id) VALUES (NEW.workspace_id, NEW.group_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER memberships_dirty_insert AFTER INSERT ON memberships
    FOR EACH ROW EXECUTE FUNCTION metric_dirty_stints_mark();
CREATE TRIGGER memberships_dirty_update AFTER UPDATE OF workspace_id, group_id, member_id, joined_at, left_at
    ON memberships FOR EACH ROW
    WHEN ((OLD.workspace_id, OLD.group_id, OLD.member_id, OLD.joined_at, OLD.left_at)
          IS DISTINCT FROM (NEW.workspace_id, NEW.group_id, NEW.member_id, NEW.joined_at, NEW.left_at))
    EXECUTE FUNCTION metric_dirty_stints_mark();
CREATE TRIGGER memberships_dirty_delete AFTER DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION metric_dirty_stints_mark();

-- Pack every group that has stints now.
INSERT INTO metric_dirty_stints (workspace_id, group_id)
SELECT DISTINCT workspace_id, group_id FROM memberships;

-- Every group's sets of a local day in one value, beside the workspace's:
-- what a report over all groups reads (the health of every group reads 60
-- rows instead of ~60,000 group-day rows, each costing more to fetch and
-- decode than its bytes). Per group with a row in metric_group_days that
-- day, in group id order:
--   16 B  group id (uuid_send)
--   int4  bytes of `active`, then `active`
--   int4  bytes of `senders`, then `senders`, then `sent` (as many bytes)
-- (the lists as in metric_group_days). Derived from metric_group_days by the
-- rollup worker whenever it recomputes a day.
ALTER TABLE metric_days ADD COLUMN groups bytea NOT NULL DEFAULT '';
ALTER TABLE metric_days ALTER COLUMN groups SET STORAGE EXTERNAL;
UPDATE metric_days d SET groups = COALESCE(
    (SELECT string_agg(uuid_send(g.group_id) || int4send(length(g.active)) || g.active
                       || int4send(length(g.senders)) || g.senders || g.sent, '' ORDER BY g.group_id)
     FROM metric_group_days g WHERE g.workspace_id = d.workspace_id AND g.day = d.day), '');
