-- Flash sales (限时秒杀): a campaign's items at a sale price, once or at a
-- daily slot, each occurrence with its own stock.
--
-- The guards, each closing one race:
-- * never oversold: an occurrence's `reserved + sold <= stock`
--   (`flash_sale_stock_never_oversold`), moved only by guarded updates;
-- * the per-member limit: `flash_sale_takers.taken` is raised by an upsert
--   guarded by `taken + quantity <= limit` (the row lock queues a member's
--   concurrent reservations);
-- * a reservation changes state only from the one read under its row lock,
--   and the expiry job claims due ones with `SKIP LOCKED`, so confirming,
--   cancelling and expiring one reservation cannot both happen.
CREATE TABLE flash_sales (
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                   uuid NOT NULL,
    campaign_id          uuid NOT NULL,
    name                 text NOT NULL,
    schedule             jsonb NOT NULL,
    eligible             jsonb,
    reservation_minutes  integer NOT NULL,
    status               text NOT NULL DEFAULT 'active',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT flash_sales_campaign_fkey FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id),
    CONSTRAINT flash_sales_minutes_check CHECK (reservation_minutes BETWEEN 1 AND 1440),
    CONSTRAINT flash_sales_status_check CHECK (status IN ('active', 'paused', 'archived'))
);

CREATE TABLE flash_sale_items (
    workspace_id      uuid NOT NULL,
    sale_id           uuid NOT NULL,
    product_id        text NOT NULL,
    name              text NOT NULL,
    list_price        bigint NOT NULL,
    sale_price        bigint NOT NULL,
    stock             integer NOT NULL,
    per_member_limit  integer NOT NULL,
    position          integer NOT NULL,
    PRIMARY KEY (workspace_id, sale_id, product_id),
    CONSTRAINT flash_sale_items_sale_fkey FOREIGN KEY (workspace_id, sale_id)
        REFERENCES flash_sales (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT flash_sale_items_price_check CHECK (sale_price >= 0 AND sale_price <= list_price),
    CONSTRAINT flash_sale_items_stock_check CHECK (stock >= 0),
    CONSTRAINT flash_sale_items_limit_check CHECK (per_member_limit >= 1)
);

-- One row per item and occurrence, made when the occurrence is first
-- touched, with the item's stock of that moment.
CREATE TABLE flash_sale_stock (
    workspace_id  uuid NOT NULL,
    sale_id       uuid NOT NULL,
    product_id    text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    stock         integer NOT NULL,
    reserved      integer NOT NULL DEFAULT 0,
    sold          integer NOT NULL DEFAULT 0,
    sold_out_at   timestamptz,
    PRIMARY KEY (workspace_id, sale_id, product_id, starts_at),
    CONSTRAINT flash_sale_stock_item_fkey FOREIGN KEY (workspace_id, sale_id, product_id)
        REFERENCES flash_sale_items (workspace_id, sale_id, product_id) ON DELETE CASCADE,
    CONSTRAINT flash_sale_stock_never_oversold CHECK (reserved >= 0 AND sold >= 0 AND reserved + sold <= stock)
);

CREATE TABLE flash_sale_takers (
    workspace_id  uuid NOT NULL,
    sale_id       uuid NOT NULL,
    product_id    text NOT NULL,
    starts_at     timestamptz NOT NULL,
    member_id     uuid NOT NULL,
    taken         integer NOT NULL,
    PRIMARY KEY (workspace_id, sale_id, product_id, starts_at, member_id),
    CONSTRAINT flash_sale_takers_stock_fkey FOREIGN KEY (workspace_id, sale_id, product_id, starts_at)
        REFERENCES flash_sale_stock (workspace_id, sale_id, product_id, starts_at) ON DELETE CASCADE,
    CONSTRAINT flash_sale_takers_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT flash_sale_takers_taken_check CHECK (taken >= 0)
);

CREATE TABLE flash_sale_reservations (
    workspace_id   uuid NOT NULL,
    id             uuid NOT NULL,
    sale_id        uuid NOT NULL,
    product_id     text NOT NULL,
    starts_at      timestamptz NOT NULL,
    member_id      uuid NOT NULL,
    quantity       integer NOT NULL,
    price          bigint NOT NULL,
    status         text NOT NULL,
    order_id       text,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT flash_sale_reservations_stock_fkey FOREIGN KEY (workspace_id, sale_id, product_id, starts_at)
        REFERENCES flash_sale_stock (workspace_id, sale_id, product_id, starts_at) ON DELETE CASCADE,
    CONSTRAINT flash_sale_reservations_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT flash_sale_reservations_quantity_check CHECK (quantity > 0),
    CONSTRAINT flash_sale_reservations_status_check CHECK (status IN ('reserved', 'confirmed', 'cancelled', 'expired')),
    CONSTRAINT flash_sale_reservations_order_check CHECK ((status = 'confirmed') = (order_id IS NOT NULL))
);
CREATE INDEX flash_sale_reservations_sale_idx ON flash_sale_reservations (workspace_id, sale_id, id);
-- The expiry job's due reservations.
CREATE INDEX flash_sale_reservations_due_idx ON flash_sale_reservations (expires_at) WHERE status = 'reserved';
