-- Derives the per-day member sets of local days [$2, $3] from their
-- member-day rows (written just before, members already numbered): per
-- group, then for the whole workspace, then every group's lists of a day in
-- the workspace's row (`groups`). Lists are packed int4send values sorted by
-- member index; `senders` and `sent` are parallel. Then per type, the
-- members with an event of it (from the member-day rows' `types` bits).
-- Run as four statements (see rollup.rs).
INSERT INTO metric_group_days (workspace_id, day, group_id, active, senders, sent)
SELECT $1, d.day, d.group_id,
       COALESCE(string_agg(int4send(i.idx), '' ORDER BY i.idx) FILTER (WHERE d.active_events > 0), ''),
       COALESCE(string_agg(int4send(i.idx), '' ORDER BY i.idx) FILTER (WHERE d.messages > 0), ''),
       COALESCE(string_agg(int4send(d.messages), '' ORDER BY i.idx) FILTER (WHERE d.messages > 0), '')
FROM metric_member_days d
JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3
GROUP BY d.day, d.group_id;
--
INSERT INTO metric_days (workspace_id, day, active, senders, sent)
SELECT $1, x.day,
       COALESCE(string_agg(int4send(x.idx), '' ORDER BY x.idx) FILTER (WHERE x.active), ''),
       COALESCE(string_agg(int4send(x.idx), '' ORDER BY x.idx) FILTER (WHERE x.messages > 0), ''),
       COALESCE(string_agg(int4send(x.messages), '' ORDER BY x.idx) FILTER (WHERE x.messages > 0), '')
FROM (SELECT d.day, i.idx, bool_or(d.active_events > 0) AS active, sum(d.messages)::int4 AS messages
      FROM metric_member_days d
      JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
      WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3
      GROUP BY d.day, i.idx) x
GROUP BY x.day;
--
UPDATE metric_days d SET groups = COALESCE(
    (SELECT string_agg(uuid_send(g.group_id) || int4send(length(g.active)) || g.active
                       || int4send(length(g.senders)) || g.senders || g.sent, '' ORDER BY g.group_id)
     FROM metric_group_days g WHERE g.workspace_id = $1 AND g.day = d.day), '')
WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3;
--
INSERT INTO metric_type_days (workspace_id, day, type_code, members)
SELECT $1, d.day, t.code, array_agg(DISTINCT i.idx ORDER BY i.idx)
FROM metric_member_days d
JOIN metric_member_index i ON i.workspace_id = d.workspace_id AND i.member_id = d.member_id
CROSS JOIN generate_series(0, 30) AS t(code)
WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.types & (1 << t.code) <> 0
GROUP BY d.day, t.code;
