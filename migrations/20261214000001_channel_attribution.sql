-- Channel attribution: which channel each stint came through, the invite
-- link a platform made for a (channel, group), and the visits per day.

-- Set from the stint's invite code (a channel's code, or a Telegram invite
-- link named "<code> <channel name>") when the stint is written.
ALTER TABLE memberships ADD COLUMN channel_id uuid;
ALTER TABLE memberships ADD CONSTRAINT memberships_channel_fkey FOREIGN KEY (workspace_id, channel_id)
    REFERENCES channels (workspace_id, id) ON DELETE SET NULL (channel_id);
CREATE INDEX memberships_channel_idx ON memberships (workspace_id, channel_id, joined_at)
    WHERE channel_id IS NOT NULL;

-- An invite link made through a platform's API for one channel and group
-- (Telegram's createChatInviteLink), so the join names the channel.
CREATE TABLE channel_links (
    workspace_id  uuid NOT NULL,
    channel_id    uuid NOT NULL,
    group_id      uuid NOT NULL,
    url           text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, channel_id, group_id),
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, group_id) REFERENCES groups (workspace_id, id) ON DELETE CASCADE
);

-- Visits per channel, local day of the workspace and group sent to (NULL:
-- the visit found every group full). Counted in memory and added here about
-- once a second.
CREATE TABLE channel_visits (
    workspace_id  uuid NOT NULL,
    channel_id    uuid NOT NULL,
    day           date NOT NULL,
    group_id      uuid,
    visits        bigint NOT NULL,
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT channel_visits_key UNIQUE NULLS NOT DISTINCT (workspace_id, channel_id, day, group_id)
);
