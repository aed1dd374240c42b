-- Merges the refunds of [$2, $3) into metric_orders: an order's refund is
-- its earliest order_refunded event (ties: smallest event id), whatever
-- order the refunds arrive or are rolled up in.
INSERT INTO metric_orders AS o (workspace_id, order_id, refund_event_id, refunded_at, refund_amount)
SELECT DISTINCT ON (e.order_id) e.workspace_id, e.order_id, e.id, e.occurred_at, e.amount
FROM events e
WHERE e.workspace_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
  AND e.type = 'order_refunded' AND e.order_id IS NOT NULL
ORDER BY e.order_id, e.occurred_at, e.id
ON CONFLICT (workspace_id, order_id) DO UPDATE SET
    refund_event_id = EXCLUDED.refund_event_id, refunded_at = EXCLUDED.refunded_at,
    refund_amount = EXCLUDED.refund_amount
WHERE o.refunded_at IS NULL OR (EXCLUDED.refunded_at, EXCLUDED.refund_event_id) < (o.refunded_at, o.refund_event_id)
