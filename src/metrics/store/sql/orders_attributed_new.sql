-- Re-attributes the orders an incremental pass can change (see
-- incremental.rs): those whose payments it merged ($2: order ids), and
-- those paid by a member within $5 seconds after one of its new campaign
-- clicks ($3/$4: member, instant), as orders_attributed.sql does for whole
-- days. Returns the payment instant of every order whose attribution moved.
UPDATE metric_orders o SET click_campaign_id = a.campaign_id
FROM (SELECT t.order_id,
             (SELECT k.campaign_id FROM metric_campaign_clicks k
              WHERE k.workspace_id = $1 AND k.member_id = t.member_id
                AND k.clicked_at <= t.paid_at AND k.clicked_at >= t.paid_at - make_interval(secs => $5)
              ORDER BY k.clicked_at DESC, k.event_id DESC LIMIT 1) AS campaign_id
      FROM (SELECT t.order_id, t.member_id, t.paid_at FROM metric_orders t
            WHERE t.workspace_id = $1 AND t.order_id = ANY($2)
            UNION
            SELECT t.order_id, t.member_id, t.paid_at
            FROM unnest($3::uuid[], $4::timestamptz[]) AS c(member_id, at)
            JOIN metric_orders t ON t.workspace_id = $1 AND t.member_id = c.member_id
             AND t.paid_at >= c.at AND t.paid_at <= c.at + make_interval(secs => $5)) t
      WHERE t.member_id IS NOT NULL AND t.paid_at IS NOT NULL) a
WHERE o.workspace_id = $1 AND o.order_id = a.order_id AND o.click_campaign_id IS DISTINCT FROM a.campaign_id
RETURNING o.paid_at
