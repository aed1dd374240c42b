-- What follows from stored events is done by the subscribers of
-- events::reactions, in the storing transaction: the metrics subscriber
-- queues the groups whose stints a join or leave touched, beside the local
-- days it queued already. The row triggers on memberships did the same
-- job a second way; they go. (A full rebuild repacks every group's stints,
-- for writers that load memberships in bulk.)
DROP TRIGGER memberships_dirty_insert ON memberships;
DROP TRIGGER memberships_dirty_update ON memberships;
DROP TRIGGER memberships_dirty_delete ON memberships;
DROP FUNCTION metric_dirty_stints_mark();

-- A new timezone or set of active event types renumbers every local day:
-- the metrics store queues its own full rebuild when either changes, so
-- the workspaces feature does not call into metrics.
CREATE FUNCTION metric_workspace_rebuild() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_dirty_days (workspace_id, day) VALUES (NEW.id, NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER workspaces_metric_rebuild AFTER UPDATE OF timezone, active_event_types ON workspaces
    FOR EACH ROW
    WHEN ((OLD.timezone, OLD.active_event_types) IS DISTINCT FROM (NEW.timezone, NEW.active_event_types))
    EXECUTE FUNCTION metric_workspace_rebuild();
