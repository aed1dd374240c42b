-- A workspace's identity epoch: bumped by every statement that deletes or
-- changes platform identities (erasure, a member's identities replaced),
-- never by one that only adds identities. No row means epoch 0.
--
-- Instances cache platform identity → member id per workspace (ingestion
-- resolves every event's member by its platform id); an entry is used only
-- while the epoch it was read under is current, so an identity removed or
-- moved to another member is never resolved from a stale entry, on any
-- instance. A trigger rather than the application, so no writer can forget.
--
-- Its own table, not a column of `workspaces`: ingestion holds a share lock
-- on the workspace row (rollups::mark_dirty), which an update from inside an
-- erasure would wait for.
CREATE TABLE identity_epochs (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    epoch        bigint NOT NULL
);

CREATE FUNCTION bump_identity_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO identity_epochs AS e (workspace_id, epoch)
    SELECT DISTINCT c.workspace_id, 1 FROM changed c
    -- A workspace being deleted (the cascade to its identities) has nothing left to cache.
    WHERE EXISTS (SELECT 1 FROM workspaces w WHERE w.id = c.workspace_id)
    ON CONFLICT (workspace_id) DO UPDATE SET epoch = e.epoch + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER member_identities_deleted AFTER DELETE ON member_identities
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER member_identities_updated AFTER UPDATE ON member_identities
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
