-- Indexes that keep probes by key exact on tables without statistics yet.
--
-- On a table not analyzed yet (a new install, the first minute after a
-- platform registers its chats and users), the planner sees every index led
-- by `workspace_id` as good as the one matching the whole key, and took
-- (workspace_id, tier) or (workspace_id, platform, external_id) for lookups
-- by id — including the foreign-key checks of memberships, whose cached
-- plans then stay — filtering every row of the workspace per probe (~70 µs
-- a row instead of ~5).
--
-- The tier indexes keep only rows with a tier (`tier = …` implies NOT NULL,
-- so every query by tier still uses them) and no longer match a query that
-- does not name one.
DROP INDEX groups_tier_idx;
CREATE INDEX groups_tier_idx ON groups (workspace_id, tier) WHERE tier IS NOT NULL;
DROP INDEX members_tier_idx;
CREATE INDEX members_tier_idx ON members (workspace_id, tier) WHERE tier IS NOT NULL;

-- A group's platform chat id is unique per workspace as before; led by the
-- chat id, the index serves lookups by chat id and nothing else.
ALTER TABLE groups DROP CONSTRAINT groups_platform_external_id_key;
ALTER TABLE groups ADD CONSTRAINT groups_platform_external_id_key UNIQUE (platform, external_id, workspace_id);

-- The membership events of a (group, member) pair, which the stints are
-- projected from: a few rows per pair, where the member and group indexes
-- hold all of a member's or a group's events.
CREATE INDEX events_membership_idx ON events (workspace_id, group_id, member_id)
    WHERE type IN ('member_joined', 'member_left');
