-- Packs the orders paid on the local days $2 (whose instants are [$3, $4),
-- element by element) into metric_order_days; see metrics/order_days.rs for
-- the record layout. The campaign is the event's, else the last click
-- within the default attribution window (metric_orders.click_campaign_id).
INSERT INTO metric_order_days (workspace_id, day, orders, data)
SELECT $1, d.day, count(*),
       string_agg(int4send(COALESCE(i.idx, -1))
                  || int8send((extract(epoch FROM o.paid_at) * 1000000)::int8)
                  || int8send(COALESCE(o.amount, 0))
                  || int8send(COALESCE((extract(epoch FROM o.refunded_at) * 1000000)::int8, 9223372036854775807))
                  || int8send(COALESCE(LEAST(COALESCE(o.refund_amount, o.amount), o.amount), 0))
                  || uuid_send(COALESCE(o.group_id, '00000000-0000-0000-0000-000000000000'))
                  || uuid_send(COALESCE(o.campaign_id, o.click_campaign_id, '00000000-0000-0000-0000-000000000000'))
                  || substring(convert_to(rpad(COALESCE(o.currency, ''), 3), 'UTF8') FROM 1 FOR 3),
                  '')
FROM unnest($2::date[], $3::timestamptz[], $4::timestamptz[]) AS d(day, lo, hi)
JOIN metric_orders o ON o.workspace_id = $1 AND o.paid_at >= d.lo AND o.paid_at < d.hi
LEFT JOIN metric_member_index i ON i.workspace_id = $1 AND i.member_id = o.member_id
GROUP BY d.day
