-- Derives again the day sets an incremental pass touched (see
-- incremental.rs): the sets of each (day, group) pair in $2/$3, of each day
-- in $2 (the workspace's row and its `groups`), and the per-type sets of
-- each (day, type code) pair in $2/$3 — each from its member-day rows, as
-- day_sets.sql derives them for whole days. Run as four statements.
INSERT INTO metric_group_days AS t (workspace_id, day, group_id, active, senders, sent)
SELECT $1, d.day, d.group_id,
       COALESCE(string_agg(int4send(i.idx), '' ORDER BY i.idx) FILTER (WHERE d.active_events > 0), ''),
       COALESCE(string_agg(int4send(i.idx), '' ORDER BY i.idx) FILTER (WHERE d.messages > 0), ''),
       COALESCE(string_agg(int4send(d.messages), '' ORDER BY i.idx) FILTER (WHERE d.messages > 0), '')
FROM unnest($2::date[], $3::uuid[]) AS q(day, group_id)
JOIN metric_member_days d ON d.workspace_id = $1 AND d.day = q.day AND d.group_id = q.group_id
JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
GROUP BY d.day, d.group_id
ON CONFLICT (workspace_id, day, group_id) DO UPDATE SET
    active = EXCLUDED.active, senders = EXCLUDED.senders, sent = EXCLUDED.sent;
--
INSERT INTO metric_days AS t (workspace_id, day, active, senders, sent)
SELECT $1, x.day,
       COALESCE(string_agg(int4send(x.idx), '' ORDER BY x.idx) FILTER (WHERE x.active), ''),
       COALESCE(string_agg(int4send(x.idx), '' ORDER BY x.idx) FILTER (WHERE x.messages > 0), ''),
       COALESCE(string_agg(int4send(x.messages), '' ORDER BY x.idx) FILTER (WHERE x.messages > 0), '')
FROM (SELECT d.day, i.idx, bool_or(d.active_events > 0) AS active, sum(d.messages)::int4 AS messages
      FROM metric_member_days d
      JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
      WHERE d.workspace_id = $1 AND d.day = ANY($2)
      GROUP BY d.day, i.idx) x
GROUP BY x.day
ON CONFLICT (workspace_id, day) DO UPDATE SET
    active = EXCLUDED.active, senders = EXCLUDED.senders, sent = EXCLUDED.sent;
--
UPDATE metric_days d SET groups = COALESCE(
    (SELECT string_agg(uuid_send(g.group_id) || int4send(length(g.active)) || g.active
                       || int4send(length(g.senders)) || g.senders || g.sent, '' ORDER BY g.group_id)
     FROM metric_group_days g WHERE g.workspace_id = $1 AND g.day = d.day), '')
WHERE d.workspace_id = $1 AND d.day = ANY($2);
--
INSERT INTO metric_type_days AS t (workspace_id, day, type_code, members)
SELECT $1, q.day, q.code, array_agg(DISTINCT i.idx ORDER BY i.idx)
FROM unnest($2::date[], $3::int2[]) AS q(day, code)
JOIN metric_member_days d ON d.workspace_id = $1 AND d.day = q.day AND d.types & (1 << q.code) <> 0
JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
GROUP BY q.day, q.code
ON CONFLICT (workspace_id, day, type_code) DO UPDATE SET members = EXCLUDED.members;
