-- Rolls the events of [$5, $6) up per member, group and local day: $4 holds
-- the bounds of the local days from $2 on (computed by the application, see
-- period::day_bounds), $3 the workspace's active event types, $7 the
-- built-in types in code order (`types` has bit `code` set for each present).
-- Events without a member are not rolled up; events without a group go to
-- the nil group.
INSERT INTO metric_member_days (workspace_id, day, group_id, member_id, events, active_events, messages,
    check_ins, link_clicks, coupons_claimed, coupons_redeemed, orders_placed, orders_paid, invites, first_active_at, types)
SELECT $1, $2::date + (width_bucket(e.occurred_at, $4::timestamptz[]) - 1),
       COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000'::uuid), e.member_id,
       count(*),
       count(*) FILTER (WHERE e.type = ANY($3)),
       count(*) FILTER (WHERE e.type = 'message_sent'),
       count(*) FILTER (WHERE e.type = 'checked_in'),
       count(*) FILTER (WHERE e.type = 'link_clicked'),
       count(*) FILTER (WHERE e.type = 'coupon_claimed'),
       count(*) FILTER (WHERE e.type = 'coupon_redeemed'),
       count(*) FILTER (WHERE e.type = 'order_placed'),
       count(*) FILTER (WHERE e.type = 'order_paid'),
       count(*) FILTER (WHERE e.type = 'member_invited'),
       min(e.occurred_at) FILTER (WHERE e.type = ANY($3)),
       COALESCE(bit_or(1 << (array_position($7::text[], e.type) - 1)) FILTER (WHERE e.type = ANY($7)), 0)
FROM events e
WHERE e.workspace_id = $1 AND e.occurred_at >= $5 AND e.occurred_at < $6 AND e.member_id IS NOT NULL
GROUP BY 2, 3, 4
