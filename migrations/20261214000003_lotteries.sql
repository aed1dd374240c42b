-- 0-yuan lotteries (kind `lottery`): commit, then reveal.

-- One per lottery campaign, made before its first entry (or when first
-- read): the secret seed and its published commitment.
CREATE TABLE lotteries (
    workspace_id    uuid NOT NULL,
    campaign_id     uuid NOT NULL,
    seed            bytea NOT NULL,
    -- hex(sha256(seed)), published from the start.
    commitment      text NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    -- Set by the draw: when it was due, when it ran, whether late.
    draw_at         timestamptz,
    drawn_at        timestamptz,
    late            boolean NOT NULL DEFAULT false,
    entries_digest  text,
    entry_count     bigint,
    entrant_count   bigint,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES campaigns (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT lotteries_seed_check CHECK (length(seed) = 32),
    CONSTRAINT lotteries_status_check CHECK (status IN ('open', 'drawn'))
);

-- Members who entered (their `per_member` entries).
CREATE TABLE lottery_entrants (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    member_id     uuid NOT NULL,
    entered_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, member_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES lotteries (workspace_id, campaign_id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, member_id) REFERENCES members (workspace_id, id) ON DELETE CASCADE
);

-- The entry list frozen by the draw: entries per member (the canonical
-- list is each member, by id, with entries 1..n). No key to members: the
-- published list stays whatever happens to them.
CREATE TABLE lottery_draw_counts (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    member_id     uuid NOT NULL,
    entries       integer NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, member_id),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES lotteries (workspace_id, campaign_id) ON DELETE CASCADE,
    CONSTRAINT lottery_draw_counts_entries_check CHECK (entries > 0)
);

-- The winners, in the order drawn, with what was delivered.
CREATE TABLE lottery_winners (
    workspace_id  uuid NOT NULL,
    campaign_id   uuid NOT NULL,
    rank          integer NOT NULL,
    member_id     uuid NOT NULL,
    prize_index   integer NOT NULL,
    prize_name    text NOT NULL,
    entry_no      integer NOT NULL,
    outcome       jsonb NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, rank),
    FOREIGN KEY (workspace_id, campaign_id) REFERENCES lotteries (workspace_id, campaign_id) ON DELETE CASCADE
);
