-- Invite campaigns (kind `referral`, and a lottery's own invite codes).

-- Round-robin turns are kept per process: no row written on every visit.
ALTER TABLE channels DROP COLUMN turn;

-- A member's invite link is a channel carrying its campaign and inviter:
-- routing, the Telegram link per group, visits and join attribution are
-- the channels'. Such channels are not in the operator's channel list and
-- their names need not be unique.
ALTER TABLE channels ADD COLUMN campaign_id uuid, ADD COLUMN inviter_id uuid;
ALTER TABLE channels ADD CONSTRAINT channels_campaign_fkey FOREIGN KEY (workspace_id, campaign_id)
    REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE;
ALTER TABLE channels ADD CONSTRAINT channels_inviter_fkey FOREIGN KEY (workspace_id, inviter_id)
    REFERENCES members (workspace_id, id) ON DELETE CASCADE;
ALTER TABLE channels ADD CONSTRAINT channels_invite_check CHECK ((campaign_id IS NULL) = (inviter_id IS NULL));
ALTER TABLE channels DROP CONSTRAINT channels_name_key;
CREATE UNIQUE INDEX channels_name_key ON channels (workspace_id, name) WHERE inviter_id IS NULL;
-- One invite link per member per campaign (a second request returns it).
CREATE UNIQUE INDEX channels_invite_key ON channels (workspace_id, campaign_id, inviter_id)
    WHERE inviter_id IS NOT NULL;

-- One referral per invitee per campaign: the join through an invite link
-- and what became of it.
CREATE TABLE referrals (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    -- Null only for `cross_workspace` (the code is another workspace's).
    campaign_id   uuid,
    inviter_id    uuid,
    invitee_id    uuid NOT NULL,
    channel_id    uuid,
    group_id      uuid,
    code          text NOT NULL,
    joined_at     timestamptz NOT NULL,
    hold_until    timestamptz NOT NULL,
    status        text NOT NULL,
    reason        text,
    decided_at    timestamptz,
    -- The local day it qualified (the inviter's daily cap counts it).
    qualified_day date,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, inviter_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, invitee_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels (workspace_id, id) ON DELETE SET NULL (channel_id),
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE SET NULL (group_id),
    CONSTRAINT referrals_status_check
        CHECK (status IN ('pending', 'qualified', 'revoked', 'rejected', 'flagged')),
    CONSTRAINT referrals_campaign_check CHECK ((campaign_id IS NULL) = (inviter_id IS NULL)),
    CONSTRAINT referrals_hold_check CHECK (hold_until >= joined_at)
);
-- An invitee is credited to one inviter per campaign: a second join
-- (another code, a redelivered update) adds nothing.
CREATE UNIQUE INDEX referrals_invitee_key ON referrals (workspace_id, campaign_id, invitee_id)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX referrals_due_idx ON referrals (hold_until) WHERE status = 'pending';
CREATE INDEX referrals_inviter_idx ON referrals (workspace_id, campaign_id, inviter_id, status);
CREATE INDEX referrals_tree_idx ON referrals (workspace_id, inviter_id)
    WHERE status IN ('pending', 'qualified', 'flagged');
CREATE INDEX referrals_invitee_idx ON referrals (workspace_id, invitee_id);

-- Referrals qualified per inviter, campaign and local day: the guarded
-- counter of `max_qualified_per_day` (over it, a referral is flagged).
CREATE TABLE referral_inviter_days (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    inviter_id    uuid NOT NULL,
    day           date NOT NULL,
    qualified     integer NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, inviter_id, day),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE
);

-- Each reward threshold granted once per inviter (the key is the guard).
CREATE TABLE referral_rewards (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    inviter_id    uuid NOT NULL,
    reward_index  integer NOT NULL,
    at            integer NOT NULL,
    -- What was given: points credited, the coupon issued, or why not.
    outcome       jsonb NOT NULL,
    granted_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, inviter_id, reward_index),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, inviter_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE
);
