-- The events' primary key led by the instant: (workspace_id, occurred_at, id)
-- instead of (workspace_id, id, occurred_at). Same columns, so the same
-- dedupe (a redelivery carries the same id and source time); but event ids
-- are mostly UUIDv5 hashes, and a key led by them sends every insert to a
-- random leaf of an index that outgrows shared buffers within minutes of a
-- steady stream (each insert then reads a page and, after each checkpoint,
-- writes a full page image to the WAL). Led by the instant, a stream's
-- inserts land on the few leaves of the last seconds, and the key also
-- serves what events_time_idx served (the time-ordered listing, ranges of a
-- workspace's events by time), so that index goes.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (workspace_id, occurred_at, id);
DROP INDEX events_time_idx;
