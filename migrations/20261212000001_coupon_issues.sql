-- Operator issues of coupons, each a durable record with its progress.
--
-- A small target is issued in the request (the issue is `done` when it
-- answers). A large one is stored with its members as they were when the
-- operator asked (`coupon_issue_members`, in member id order) and issued by
-- the campaign jobs in chunks: each chunk's coupons and the issue's
-- `cursor` and counts commit together, so a crash or a second instance
-- never gives a member of the target two coupons from one issue, and a
-- chunk interrupted is done again whole. Instances take an issue's row
-- with `FOR UPDATE SKIP LOCKED` for the length of a chunk.
CREATE TABLE coupon_issues (
    workspace_id    uuid NOT NULL,
    id              uuid NOT NULL,
    template_id     uuid NOT NULL,
    target          jsonb NOT NULL,
    status          text NOT NULL,
    total           integer NOT NULL,
    processed       integer NOT NULL DEFAULT 0,
    issued          integer NOT NULL DEFAULT 0,
    limit_reached   integer NOT NULL DEFAULT 0,
    not_eligible    integer NOT NULL DEFAULT 0,
    out_of_stock    integer NOT NULL DEFAULT 0,
    -- The last member id of the target already processed.
    cursor          uuid,
    error           text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT coupon_issues_template_fkey FOREIGN KEY (workspace_id, template_id)
        REFERENCES coupon_templates (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT coupon_issues_status_check CHECK (status IN ('queued', 'running', 'done', 'failed')),
    CONSTRAINT coupon_issues_counts_check CHECK (
        processed >= 0 AND processed <= total
        AND issued + limit_reached + not_eligible + out_of_stock = processed)
);

CREATE INDEX coupon_issues_pending ON coupon_issues (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX coupon_issues_template ON coupon_issues (workspace_id, template_id, id);

CREATE TABLE coupon_issue_members (
    workspace_id  uuid NOT NULL,
    issue_id      uuid NOT NULL,
    member_id     uuid NOT NULL,
    PRIMARY KEY (workspace_id, issue_id, member_id),
    CONSTRAINT coupon_issue_members_issue_fkey FOREIGN KEY (workspace_id, issue_id)
        REFERENCES coupon_issues (workspace_id, id) ON DELETE CASCADE
);
