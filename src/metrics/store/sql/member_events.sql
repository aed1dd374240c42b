-- Packs the events of built-in types ($6, in code order) of [$4, $5) per
-- member and local day ($3: the bounds of the local days from $2 on, as
-- member_days.sql), in (occurred_at, id) order. The layout is described in
-- the migration that creates metric_member_events. Members are numbered
-- before this runs.
INSERT INTO metric_member_events (workspace_id, member_idx, day, types, data)
SELECT $1, i.idx, x.day, bit_or(1 << x.code),
       string_agg(int2send(((x.code << 8)
                            | CASE WHEN x.group_id IS NULL THEN 0 ELSE 1 END
                            | CASE WHEN x.campaign_id IS NULL THEN 0 ELSE 2 END
                            | CASE WHEN x.campaign_code IS NULL THEN 0 ELSE 4 END)::int2)
                  || int8send((extract(epoch FROM x.occurred_at) * 1000000)::int8)
                  || COALESCE(uuid_send(x.group_id), '')
                  || COALESCE(uuid_send(x.campaign_id), '')
                  || COALESCE(int2send(octet_length(convert_to(x.campaign_code, 'UTF8'))::int2)
                              || convert_to(x.campaign_code, 'UTF8'), ''),
                  '' ORDER BY x.occurred_at, x.id)
FROM (SELECT e.member_id, e.occurred_at, e.id, e.group_id, e.campaign_id, e.campaign_code,
             $2::date + (width_bucket(e.occurred_at, $3::timestamptz[]) - 1) AS day,
             array_position($6::text[], e.type) - 1 AS code
      FROM events e
      WHERE e.workspace_id = $1 AND e.occurred_at >= $4 AND e.occurred_at < $5
        AND e.member_id IS NOT NULL AND e.type = ANY($6)) x
JOIN metric_member_index i ON i.workspace_id = $1 AND i.member_id = x.member_id
GROUP BY i.idx, x.day
