-- Coupons: templates (what a coupon gives, how many exist, who may have
-- one) and the coupons members hold.
--
-- The guards, each closing one race:
-- * the total: `issued` is raised by a guarded `UPDATE … WHERE total IS NULL
--   OR issued < total` and `coupon_templates_within_total` refuses any
--   other way past it (total 1 with 128 concurrent claims: one coupon);
-- * the per-member limit: `coupon_holders.held` is raised by an upsert
--   guarded by `held < limit`; the upsert locks the row, so a member's
--   concurrent claims queue and the last one sees the count the others left;
-- * one non-stackable coupon per order: `coupons_one_per_order`;
-- * a coupon used once: its status moves only from the status read under
--   `FOR UPDATE`.
CREATE TABLE coupon_templates (
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    campaign_id        uuid,
    name               text NOT NULL,
    discount           jsonb NOT NULL,
    min_spend          bigint NOT NULL DEFAULT 0,
    currency           text NOT NULL,
    products           text[],
    validity           jsonb NOT NULL,
    total              bigint,
    issued             bigint NOT NULL DEFAULT 0,
    per_member_limit   integer NOT NULL DEFAULT 1,
    eligible           jsonb,
    stackable          boolean NOT NULL DEFAULT false,
    restore_on_refund  boolean NOT NULL DEFAULT false,
    status             text NOT NULL DEFAULT 'active',
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT coupon_templates_campaign_fkey FOREIGN KEY (workspace_id, campaign_id)
        REFERENCES campaigns (workspace_id, id),
    CONSTRAINT coupon_templates_min_spend_check CHECK (min_spend >= 0),
    CONSTRAINT coupon_templates_total_check CHECK (total IS NULL OR total >= 0),
    CONSTRAINT coupon_templates_within_total CHECK (issued >= 0 AND (total IS NULL OR issued <= total)),
    CONSTRAINT coupon_templates_limit_check CHECK (per_member_limit >= 1),
    CONSTRAINT coupon_templates_status_check CHECK (status IN ('active', 'paused', 'archived'))
);

-- How many coupons of a template each member got (claimed or issued).
CREATE TABLE coupon_holders (
    workspace_id  uuid NOT NULL,
    template_id   uuid NOT NULL,
    member_id     uuid NOT NULL,
    held          integer NOT NULL,
    PRIMARY KEY (workspace_id, template_id, member_id),
    CONSTRAINT coupon_holders_template_fkey FOREIGN KEY (workspace_id, template_id)
        REFERENCES coupon_templates (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT coupon_holders_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT coupon_holders_held_check CHECK (held >= 0)
);

CREATE TABLE coupons (
    workspace_id      uuid NOT NULL,
    id                uuid NOT NULL,
    template_id       uuid NOT NULL,
    member_id         uuid NOT NULL,
    code              text NOT NULL,
    status            text NOT NULL,
    -- Copied from the template: the order index needs it on the row.
    stackable         boolean NOT NULL,
    group_id          uuid,
    issue_id          uuid,
    claimed_at        timestamptz NOT NULL,
    valid_from        timestamptz NOT NULL,
    valid_until       timestamptz NOT NULL,
    order_id          text,
    discount_applied  bigint,
    lines             jsonb,
    -- The paid order's amount, from its `order_paid` (a refund of less is partial).
    order_amount      bigint,
    locked_at         timestamptz,
    redeemed_at       timestamptz,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT coupons_code_key UNIQUE (workspace_id, code),
    CONSTRAINT coupons_template_fkey FOREIGN KEY (workspace_id, template_id)
        REFERENCES coupon_templates (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT coupons_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT coupons_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id),
    CONSTRAINT coupons_status_check CHECK (status IN ('claimed', 'locked', 'redeemed', 'expired', 'void')),
    CONSTRAINT coupons_order_check CHECK ((status IN ('locked', 'redeemed')) = (order_id IS NOT NULL)),
    CONSTRAINT coupons_validity_check CHECK (valid_until > valid_from),
    CONSTRAINT coupons_discount_check CHECK (discount_applied IS NULL OR discount_applied >= 0)
);
CREATE UNIQUE INDEX coupons_one_per_order ON coupons (workspace_id, order_id)
    WHERE order_id IS NOT NULL AND NOT stackable;
CREATE INDEX coupons_template_idx ON coupons (workspace_id, template_id, id);
CREATE INDEX coupons_member_idx ON coupons (workspace_id, member_id, id);
CREATE INDEX coupons_order_idx ON coupons (workspace_id, order_id) WHERE order_id IS NOT NULL;
-- The expiry job's due coupons.
CREATE INDEX coupons_due_idx ON coupons (valid_until) WHERE status = 'claimed';
