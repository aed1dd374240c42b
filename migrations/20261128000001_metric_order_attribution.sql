-- Commerce without one row per order: the last-click attribution kept per
-- order, and the orders packed per local payment day.

-- Each order's last-click campaign under the default attribution window
-- (the member's last campaign click in [paid_at - 7 days, paid_at], ties:
-- largest event id), kept by the rollup worker (see
-- metrics/sql/orders_attributed.sql) so the report of the default window
-- does not search the clicks per order; another `attribution_days` still
-- does. NULL: no such click (or no member). The event's own campaign, when
-- it names one, still wins.
ALTER TABLE metric_orders ADD COLUMN click_campaign_id uuid;

-- The orders paid on each local day (workspace timezone), packed: one row
-- per day instead of one per order for the commerce report (~10,000 rows
-- fetched and decoded for 30 days of a 100,000-member workspace). Record
-- layout in metrics/order_days.rs; repacked by the rollup worker whenever
-- an order of the day changes (its payment, its refund, its attribution).
CREATE TABLE metric_order_days (
    workspace_id  uuid NOT NULL,
    day           date NOT NULL,
    orders        integer NOT NULL,
    data          bytea NOT NULL,
    CONSTRAINT metric_order_days_pkey PRIMARY KEY (workspace_id, day)
);
-- Packed values are read whole: never compress them.
ALTER TABLE metric_order_days ALTER COLUMN data SET STORAGE EXTERNAL;

-- Both are derived by a rebuild of the workspaces that have orders.
INSERT INTO metric_dirty_days (workspace_id, day)
SELECT DISTINCT workspace_id, NULL::date FROM metric_orders;
