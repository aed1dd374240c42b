-- Group-buys (拼团) and bargains (砍价).
--
-- The guards, each closing one race:
-- * a team never takes more members than its size: `joined` moves only by
--   a guarded update (`status = 'open' AND joined < team_size AND
--   expires_at > now`) and `group_buy_teams_never_overfilled` checks it;
--   the update that fills the team makes it `succeeded` in the same
--   statement, so a full team is never open;
-- * a member is in a team once (primary key), an order pays for one place
--   in a group-buy (unique key): a retried join finds its own row;
-- * the per-member limit: `group_buy_takers.taken` is raised by an upsert
--   guarded by `taken < limit`, given back when a team fails;
-- * `max_teams`: `group_buys.teams_opened` is raised by a guarded update;
-- * a team fails once: the expiry job claims open teams past `expires_at`
--   with `SKIP LOCKED` and a join holds the team's row to its commit;
-- * a bargain's helps never pass `helpers_needed` and its price never goes
--   under the floor (checks), a helper helps a session once (primary key),
--   a member has one open session per bargain (partial unique index), a
--   session changes state only under its row lock.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_kind_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_kind_check
    CHECK (kind IN ('check_in', 'coupon', 'flash_sale', 'lottery', 'group_buy', 'bargain', 'referral', 'content', 'custom'));

CREATE TABLE group_buys (
    workspace_id              uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                        uuid NOT NULL,
    campaign_id               uuid NOT NULL,
    product_id                text NOT NULL,
    name                      text NOT NULL,
    list_price                bigint NOT NULL,
    group_price               bigint NOT NULL,
    team_size                 integer NOT NULL,
    time_limit_hours          integer NOT NULL,
    max_teams                 integer,
    per_member_limit          integer NOT NULL,
    eligible                  jsonb,
    new_members_only_joiners  boolean NOT NULL DEFAULT false,
    link                      text,
    status                    text NOT NULL DEFAULT 'active',
    teams_opened              integer NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT group_buys_campaign_fkey FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id),
    CONSTRAINT group_buys_price_check CHECK (group_price >= 0 AND group_price <= list_price),
    CONSTRAINT group_buys_size_check CHECK (team_size BETWEEN 2 AND 100),
    CONSTRAINT group_buys_hours_check CHECK (time_limit_hours BETWEEN 1 AND 720),
    CONSTRAINT group_buys_limit_check CHECK (per_member_limit >= 1),
    CONSTRAINT group_buys_max_teams_check CHECK (max_teams IS NULL OR teams_opened <= max_teams),
    CONSTRAINT group_buys_status_check CHECK (status IN ('active', 'paused', 'archived'))
);
CREATE INDEX group_buys_campaign_idx ON group_buys (workspace_id, campaign_id);

CREATE TABLE group_buy_teams (
    workspace_id   uuid NOT NULL,
    id             uuid NOT NULL,
    group_buy_id   uuid NOT NULL,
    leader_id      uuid NOT NULL,
    group_id       uuid,
    team_size      integer NOT NULL,
    joined         integer NOT NULL DEFAULT 1,
    status         text NOT NULL DEFAULT 'open',
    reason         text,
    expires_at     timestamptz NOT NULL,
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT group_buy_teams_buy_fkey FOREIGN KEY (workspace_id, group_buy_id)
        REFERENCES group_buys (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_buy_teams_leader_fkey FOREIGN KEY (workspace_id, leader_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_buy_teams_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE SET NULL (group_id),
    CONSTRAINT group_buy_teams_never_overfilled CHECK (joined >= 1 AND joined <= team_size),
    CONSTRAINT group_buy_teams_status_check CHECK (status IN ('open', 'succeeded', 'failed')),
    CONSTRAINT group_buy_teams_full_is_succeeded CHECK ((status = 'succeeded') = (joined = team_size)),
    CONSTRAINT group_buy_teams_closed_check CHECK ((status = 'open') = (closed_at IS NULL))
);
-- Room on each page for a join's update to stay on it (HOT): `joined` is in
-- no index, so a join that does not fill its team touches no index.
ALTER TABLE group_buy_teams SET (fillfactor = 70);
CREATE INDEX group_buy_teams_buy_idx ON group_buy_teams (workspace_id, group_buy_id, id);
-- Quick join's candidates: the open teams (sorted by how full they are).
CREATE INDEX group_buy_teams_open_idx ON group_buy_teams (workspace_id, group_buy_id) WHERE status = 'open';
-- The expiry job's due teams.
CREATE INDEX group_buy_teams_due_idx ON group_buy_teams (expires_at) WHERE status = 'open';

CREATE TABLE group_buy_members (
    workspace_id   uuid NOT NULL,
    team_id        uuid NOT NULL,
    member_id      uuid NOT NULL,
    group_buy_id   uuid NOT NULL,
    order_id       text NOT NULL,
    position       integer NOT NULL,
    new_member     boolean NOT NULL,
    joined_at      timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, team_id, member_id),
    CONSTRAINT group_buy_members_order_key UNIQUE (workspace_id, group_buy_id, order_id),
    CONSTRAINT group_buy_members_team_fkey FOREIGN KEY (workspace_id, team_id)
        REFERENCES group_buy_teams (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_buy_members_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX group_buy_members_member_idx ON group_buy_members (workspace_id, member_id);

-- Places a member holds in a group-buy's open and succeeded teams.
CREATE TABLE group_buy_takers (
    workspace_id   uuid NOT NULL,
    group_buy_id   uuid NOT NULL,
    member_id      uuid NOT NULL,
    taken          integer NOT NULL,
    PRIMARY KEY (workspace_id, group_buy_id, member_id),
    CONSTRAINT group_buy_takers_buy_fkey FOREIGN KEY (workspace_id, group_buy_id)
        REFERENCES group_buys (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT group_buy_takers_taken_check CHECK (taken >= 0)
);

CREATE TABLE bargains (
    workspace_id              uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                        uuid NOT NULL,
    campaign_id               uuid NOT NULL,
    product_id                text NOT NULL,
    name                      text NOT NULL,
    list_price                bigint NOT NULL,
    floor_price               bigint NOT NULL,
    helpers_needed            integer NOT NULL,
    time_limit_hours          integer NOT NULL,
    helpers_new_members_only  boolean NOT NULL DEFAULT false,
    buy_at                    text NOT NULL,
    link                      text,
    status                    text NOT NULL DEFAULT 'active',
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT bargains_campaign_fkey FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id),
    -- Every help cuts at least one fen.
    CONSTRAINT bargains_price_check CHECK (floor_price >= 0 AND list_price - floor_price >= helpers_needed),
    CONSTRAINT bargains_helpers_check CHECK (helpers_needed BETWEEN 1 AND 1000),
    CONSTRAINT bargains_hours_check CHECK (time_limit_hours BETWEEN 1 AND 720),
    CONSTRAINT bargains_buy_at_check CHECK (buy_at IN ('floor', 'any_price')),
    CONSTRAINT bargains_status_check CHECK (status IN ('active', 'paused', 'archived'))
);
CREATE INDEX bargains_campaign_idx ON bargains (workspace_id, campaign_id);

CREATE TABLE bargain_sessions (
    workspace_id    uuid NOT NULL,
    id              uuid NOT NULL,
    bargain_id      uuid NOT NULL,
    member_id       uuid NOT NULL,
    group_id        uuid,
    seed            bytea NOT NULL,
    list_price      bigint NOT NULL,
    floor_price     bigint NOT NULL,
    helpers_needed  integer NOT NULL,
    price           bigint NOT NULL,
    helps           integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'open',
    order_id        text,
    expires_at      timestamptz NOT NULL,
    started_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    ended_at        timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT bargain_sessions_bargain_fkey FOREIGN KEY (workspace_id, bargain_id)
        REFERENCES bargains (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT bargain_sessions_member_fkey FOREIGN KEY (workspace_id, member_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT bargain_sessions_group_fkey FOREIGN KEY (workspace_id, group_id)
        REFERENCES groups (workspace_id, id) ON DELETE SET NULL (group_id),
    CONSTRAINT bargain_sessions_helps_check CHECK (helps >= 0 AND helps <= helpers_needed),
    CONSTRAINT bargain_sessions_floor_check CHECK (price >= floor_price AND price <= list_price),
    CONSTRAINT bargain_sessions_floor_last CHECK ((price = floor_price) = (helps = helpers_needed)),
    CONSTRAINT bargain_sessions_status_check CHECK (status IN ('open', 'completed', 'purchased', 'expired')),
    CONSTRAINT bargain_sessions_order_check CHECK ((status = 'purchased') = (order_id IS NOT NULL))
);
-- One session a member is bargaining or may still buy, per bargain.
CREATE UNIQUE INDEX bargain_sessions_one_open ON bargain_sessions (workspace_id, bargain_id, member_id)
    WHERE status IN ('open', 'completed');
CREATE UNIQUE INDEX bargain_sessions_order_key ON bargain_sessions (workspace_id, bargain_id, order_id)
    WHERE order_id IS NOT NULL;
CREATE INDEX bargain_sessions_bargain_idx ON bargain_sessions (workspace_id, bargain_id, id);
CREATE INDEX bargain_sessions_due_idx ON bargain_sessions (expires_at) WHERE status IN ('open', 'completed');

CREATE TABLE bargain_helps (
    workspace_id  uuid NOT NULL,
    session_id    uuid NOT NULL,
    helper_id     uuid NOT NULL,
    seq           integer NOT NULL,
    cut           bigint NOT NULL,
    price_after   bigint NOT NULL,
    new_member    boolean NOT NULL,
    helped_at     timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, session_id, helper_id),
    CONSTRAINT bargain_helps_seq_key UNIQUE (workspace_id, session_id, seq),
    CONSTRAINT bargain_helps_session_fkey FOREIGN KEY (workspace_id, session_id)
        REFERENCES bargain_sessions (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT bargain_helps_helper_fkey FOREIGN KEY (workspace_id, helper_id)
        REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT bargain_helps_cut_check CHECK (cut >= 1)
);
CREATE INDEX bargain_helps_helper_idx ON bargain_helps (workspace_id, helper_id);
