-- Incremental rollups: a pass merges the events that are new since the
-- last one instead of recomputing each of their local days whole, so its
-- cost follows the new events (and the members and groups they touch), not
-- what the day already holds. See docs/metrics.md, "Rollups".

-- The queue holds the new events: one row per storing transaction and local
-- day with what the rollups read of that day's `n` events, packed by the
-- application (metrics::store::incremental, `pack`), so a pass never reads
-- them back from `events`; merged by the worker and deleted by id in the
-- same transaction. A row without events still means "recompute this day
-- whole" (the repair path, `shequn rollup rebuild`), and a row without a
-- day a full rebuild.
ALTER TABLE metric_dirty_days
    ADD COLUMN events bytea,
    ADD COLUMN n      integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT metric_dirty_days_events_check CHECK (events IS NULL OR day IS NOT NULL);
-- Read whole, written once: never compressed.
ALTER TABLE metric_dirty_days ALTER COLUMN events SET STORAGE EXTERNAL;

-- Per member, group and day, the built-in event types present (bit = code in
-- events::model::TYPES): the per-type day sets are derived from it. Counters
-- are now added to in place, so leave room on each page for the new version
-- of a row (a HOT update touches no index).
ALTER TABLE metric_member_days ADD COLUMN types integer NOT NULL DEFAULT 0;
ALTER TABLE metric_member_days SET (fillfactor = 80);

-- A late campaign click re-attributes its member's orders paid within the
-- window after it: found by member, not by scanning the window's orders.
CREATE INDEX metric_orders_member_idx ON metric_orders (workspace_id, member_id, paid_at)
    WHERE member_id IS NOT NULL AND paid_at IS NOT NULL;

-- Funnel timelines in chunks. A member's events of a local month (built-in
-- types) are one or more rows here, numbered from 0 (`seq`), each holding up
-- to about 1 kB of packed events (see metrics::store::chunks): new events are
-- appended to the last chunk, or open the next one, whatever their instants,
-- so a pass writes what it adds and never rewrites a month. A reader takes a
-- member's chunks of a month, decodes them and orders the events by
-- (occurred_at, id) — the order a read of the raw events gives — which they
-- are already in except where events arrived late. Each event is packed as
--   int2  (type code << 8) | flags    type code: 0-based index in TYPES (events::model)
--                                     flags: 1 group, 2 campaign id, 4 campaign code
--   int8  occurred_at, microseconds since the Unix epoch
--   16 B  event id            (the order of events at the same instant)
--   16 B  group id            (flag 1)
--   16 B  campaign id         (flag 2)
--   int2  code length, bytes  (flag 4; UTF-8)
-- all big-endian.
CREATE TABLE metric_member_chunks (
    workspace_id  uuid NOT NULL,
    member_idx    integer NOT NULL,
    month         date NOT NULL,
    seq           integer NOT NULL,
    events        integer NOT NULL,
    data          bytea NOT NULL,
    CONSTRAINT metric_member_chunks_pkey PRIMARY KEY (workspace_id, member_idx, month, seq)
) WITH (fillfactor = 70);

-- The per-day values and their month concatenations give way to the chunks.
DROP TABLE metric_member_events;
DROP TABLE metric_member_months;

-- Every workspace is rolled up again into the new layout.
INSERT INTO metric_dirty_days (workspace_id, day) SELECT id, NULL FROM workspaces;
