-- WeCom joins waiting for their join way's state: the callback does not
-- carry it, `externalcontact/groupchat/get` does. One row per stored join
-- (queued with the event, in its transaction), removed once looked up.
CREATE TABLE wecom_join_lookups (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    event_id      uuid NOT NULL,
    group_id      uuid NOT NULL,
    member_id     uuid NOT NULL,
    joined_at     timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    due_at        timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX wecom_join_lookups_due_idx ON wecom_join_lookups (due_at);
