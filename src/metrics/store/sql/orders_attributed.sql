-- Re-attributes the orders a rollup of [$2, $3) can change: those paid in
-- it, and those paid within $4 seconds after a campaign click in it by the
-- same member (a late click changes the last click of later payments). The
-- attribution is the member's last campaign click in [paid_at - $4 s,
-- paid_at] (ties: largest event id), as the report computes it for another
-- window. Run after the orders and clicks of [$2, $3) are merged.
UPDATE metric_orders o SET click_campaign_id = a.campaign_id
FROM (SELECT t.order_id,
             (SELECT k.campaign_id FROM metric_campaign_clicks k
              WHERE k.workspace_id = $1 AND k.member_id = t.member_id
                AND k.clicked_at <= t.paid_at AND k.clicked_at >= t.paid_at - make_interval(secs => $4)
              ORDER BY k.clicked_at DESC, k.event_id DESC LIMIT 1) AS campaign_id
      FROM metric_orders t
      WHERE t.workspace_id = $1 AND t.member_id IS NOT NULL AND t.paid_at IS NOT NULL
        AND ((t.paid_at >= $2 AND t.paid_at < $3)
             OR (t.paid_at >= $2 AND t.paid_at <= $3 + make_interval(secs => $4)
                 AND t.member_id IN (SELECT e.member_id FROM events e
                                     WHERE e.workspace_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
                                       AND e.type = 'link_clicked' AND e.campaign_id IS NOT NULL)))) a
WHERE o.workspace_id = $1 AND o.order_id = a.order_id AND o.click_campaign_id IS DISTINCT FROM a.campaign_id
RETURNING o.paid_at
