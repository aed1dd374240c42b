-- Operator accounts for the console. People sign in with e-mail and
-- password (API keys stay for integrations). An account is global — a
-- person may belong to several workspaces — and its role is per
-- workspace, with the same roles and checks as keys.
--
-- * `users.email` is stored trimmed and lower-cased; one account per address.
-- * `password_hash` is an Argon2id PHC string; NULL only for an account
--   whose password was never set.
-- * Sessions and one-time tokens are stored as SHA-256 hashes of the
--   secret the browser or the link holds.
-- * `login_throttle` counts failed sign-ins per account and per address in
--   a window, in the database, so every instance applies the same limit.

CREATE TABLE users (
    id                   uuid PRIMARY KEY,
    email                text NOT NULL,
    display_name         text NOT NULL DEFAULT '',
    password_hash        text,
    password_changed_at  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_check CHECK (email = lower(btrim(email)) AND position('@' IN email) > 1)
);

CREATE TABLE workspace_users (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id),
    CONSTRAINT workspace_users_role_check CHECK (role IN ('viewer', 'operator', 'admin', 'owner'))
);
CREATE INDEX workspace_users_user_idx ON workspace_users (user_id);

-- An invitation to a workspace with a role: accepting it creates the
-- account (or adds the workspace to an existing one). Without `email`
-- (the owner link printed at first start) the person chooses it.
CREATE TABLE invitations (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    token_hash    bytea NOT NULL,
    email         text,
    role          text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    accepted_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at    timestamptz,
    PRIMARY KEY (workspace_id, id),
    CONSTRAINT invitations_token_key UNIQUE (token_hash),
    CONSTRAINT invitations_role_check CHECK (role IN ('viewer', 'operator', 'admin', 'owner')),
    CONSTRAINT invitations_email_check CHECK (email IS NULL OR email = lower(btrim(email)))
);

CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_hash    bytea NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The workspace the session is in now (a person switches).
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Sent back by the console on every write (header `X-CSRF-Token`).
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    -- The absolute end; the idle end is `last_seen_at` + the idle limit.
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CONSTRAINT sessions_token_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE login_throttle (
    -- `account:<hex sha-256 of the e-mail>` or `address:<ip>`.
    subject       text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  timestamptz NOT NULL,
    locked_until  timestamptz
);

-- A person's tier changes are made as a user too.
ALTER TABLE member_tier_changes
    DROP CONSTRAINT member_tier_changes_actor_check,
    ADD CONSTRAINT member_tier_changes_actor_check CHECK (actor_type IN ('api_key', 'user', 'rule', 'system', 'cli'));
