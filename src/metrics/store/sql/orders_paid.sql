-- Merges the payments of [$2, $3) into metric_orders (one order_paid per
-- order exists: ingestion dedupes payments per order id).
INSERT INTO metric_orders (workspace_id, order_id, member_id, group_id, campaign_id, currency,
    paid_event_id, paid_at, amount)
SELECT e.workspace_id, e.order_id, e.member_id, e.group_id, e.campaign_id, e.currency, e.id, e.occurred_at,
       COALESCE(e.amount, 0)
FROM events e
WHERE e.workspace_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
  AND e.type = 'order_paid' AND e.order_id IS NOT NULL
ON CONFLICT (workspace_id, order_id) DO UPDATE SET
    member_id = EXCLUDED.member_id, group_id = EXCLUDED.group_id, campaign_id = EXCLUDED.campaign_id,
    currency = EXCLUDED.currency, paid_event_id = EXCLUDED.paid_event_id, paid_at = EXCLUDED.paid_at,
    amount = EXCLUDED.amount
