//! All SQL of users, invitations, password resets, sessions and the
//! sign-in throttle.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::model::UserView;
use crate::http::auth::Role;
use crate::ids::{InvitationId, SessionId, UserId, WorkspaceId};

fn role(s: &str) -> Result<Role, sqlx::Error> {
    Role::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("bad role {s}").into()))
}

/// An account as stored.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
}

/// The account with this (normalised) e-mail.
pub async fn user_by_email(conn: &mut PgConnection, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, display_name, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// The account.
pub async fn user(conn: &mut PgConnection, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, display_name, password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Creates an account unless the e-mail has one (`false`).
pub async fn insert_user(conn: &mut PgConnection, u: &UserRow, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, password_changed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(u.id)
    .bind(&u.email)
    .bind(&u.display_name)
    .bind(&u.password_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets the password.
pub async fn set_password(
    conn: &mut PgConnection,
    id: UserId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// A person's place in a workspace.
#[derive(Debug, Clone)]
pub struct Membership {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub role: Role,
    pub disabled: bool,
}

/// The workspaces of a person, by name.
pub async fn memberships(conn: &mut PgConnection, user: UserId) -> Result<Vec<Membership>, sqlx::Error> {
    let rows: Vec<(WorkspaceId, String, String, bool)> = sqlx::query_as(
        "SELECT w.id, w.name, wu.role, wu.disabled_at IS NOT NULL FROM workspace_users wu
         JOIN workspaces w ON w.id = wu.workspace_id WHERE wu.user_id = $1 ORDER BY w.name, w.id",
    )
    .bind(user)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(workspace_id, workspace_name, r, disabled)| {
            Ok(Membership { workspace_id, workspace_name, role: role(&r)?, disabled })
        })
        .collect()
}

/// Adds a person to a workspace with `role` (an existing place takes the
/// role and is enabled again).
pub async fn add_membership(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    user: UserId,
    r: Role,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workspace_users (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role, disabled_at = NULL",
    )
    .bind(ws)
    .bind(user)
    .bind(r.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

const USER_VIEW: &str = "SELECT u.id, u.email, u.display_name, wu.role,
        CASE WHEN wu.disabled_at IS NULL THEN 'active' ELSE 'disabled' END AS status, wu.created_at,
        (SELECT max(s.created_at) FROM sessions s WHERE s.user_id = u.id) AS last_sign_in_at
    FROM workspace_users wu JOIN users u ON u.id = wu.user_id WHERE wu.workspace_id = $1";

#[derive(FromRow)]
struct ViewRow {
    id: UserId,
    email: String,
    display_name: String,
    role: String,
    status: String,
    created_at: DateTime<Utc>,
    last_sign_in_at: Option<DateTime<Utc>>,
}

impl TryFrom<ViewRow> for UserView {
    type Error = sqlx::Error;
    fn try_from(r: ViewRow) -> Result<Self, sqlx::Error> {
        Ok(UserView {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role: role(&r.role)?,
            status: r.status,
            created_at: r.created_at,
            last_sign_in_at: r.last_sign_in_at,
        })
    }
}

/// The workspace's people, by id.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<UserView>, sqlx::Error> {
    let rows: Vec<ViewRow> =
        sqlx::query_as(&format!("{USER_VIEW} AND ($2::uuid IS NULL OR u.id > $2) ORDER BY u.id LIMIT $3"))
            .bind(ws)
            .bind(after)
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.into_iter().map(UserView::try_from).collect()
}

/// One person of the workspace.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: UserId) -> Result<Option<UserView>, sqlx::Error> {
    let r: Option<ViewRow> =
        sqlx::query_as(&format!("{USER_VIEW} AND u.id = $2")).bind(ws).bind(id).fetch_optional(conn).await?;
    r.map(UserView::try_from).transpose()
}

/// Locks the workspace's active owners (people); returns their ids.
pub async fn lock_active_owners(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<UserId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM workspace_users WHERE workspace_id = $1 AND role = 'owner' AND disabled_at IS NULL
         ORDER BY user_id FOR UPDATE",
    )
    .bind(ws)
    .fetch_all(conn)
    .await
}

/// Changes a person's role and/or enables or disables them.
pub async fn update_membership(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: UserId,
    r: Option<Role>,
    disabled: Option<bool>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE workspace_users SET role = COALESCE($3, role),
             disabled_at = CASE WHEN $4::bool IS NULL THEN disabled_at WHEN $4 THEN COALESCE(disabled_at, $5) END
         WHERE workspace_id = $1 AND user_id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(r.map(Role::as_str))
    .bind(disabled)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// An invitation as stored.
#[derive(Debug, Clone, FromRow)]
pub struct InvitationRow {
    pub workspace_id: WorkspaceId,
    pub id: InvitationId,
    pub email: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const INVITATION: &str = "SELECT workspace_id, id, email, role, created_at, expires_at, accepted_at, revoked_at
    FROM invitations";

/// Stores an invitation.
pub async fn insert_invitation(
    conn: &mut PgConnection,
    i: &InvitationRow,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invitations (workspace_id, id, token_hash, email, role, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(i.workspace_id)
    .bind(i.id)
    .bind(token_hash)
    .bind(&i.email)
    .bind(&i.role)
    .bind(i.created_at)
    .bind(i.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The workspace's invitations, newest first (at most 200).
pub async fn invitations(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!("{INVITATION} WHERE workspace_id = $1 ORDER BY id DESC LIMIT 200"))
        .bind(ws)
        .fetch_all(conn)
        .await
}

/// Revokes a pending invitation; whether it was there.
pub async fn revoke_invitation(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: InvitationId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("UPDATE invitations SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// The invitation of a token, locked (two accepts of one link queue here).
pub async fn lock_invitation(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!("{INVITATION} WHERE token_hash = $1 FOR UPDATE"))
        .bind(token_hash)
        .fetch_optional(conn)
        .await
}

/// Marks an invitation accepted.
pub async fn accept_invitation(
    conn: &mut PgConnection,
    i: &InvitationRow,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET accepted_at = $3, accepted_by = $4 WHERE workspace_id = $1 AND id = $2")
        .bind(i.workspace_id)
        .bind(i.id)
        .bind(now)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a password reset.
pub async fn insert_reset(
    conn: &mut PgConnection,
    user: UserId,
    token_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Uses a reset token that is unused and not expired: its account.
pub async fn use_reset(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<UserId>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A new session.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: SessionId,
    pub token_hash: &'a [u8],
    pub user: UserId,
    pub workspace: WorkspaceId,
    pub csrf_token: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores a session.
pub async fn insert_session(conn: &mut PgConnection, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, workspace_id, csrf_token, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
    )
    .bind(s.id)
    .bind(s.token_hash)
    .bind(s.user)
    .bind(s.workspace)
    .bind(s.csrf_token)
    .bind(s.now)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A live session with the person's place in its workspace.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub user: UserId,
    pub workspace: WorkspaceId,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// None when the person is no longer in the workspace.
    pub role: Option<Role>,
    pub disabled: bool,
}

/// The unrevoked session of a token.
pub async fn session(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<SessionRow>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let r: Option<(SessionId, UserId, WorkspaceId, String, DateTime<Utc>, DateTime<Utc>, Option<String>, bool)> =
        sqlx::query_as(
            "SELECT s.id, s.user_id, s.workspace_id, s.csrf_token, s.last_seen_at, s.expires_at, wu.role,
                    wu.disabled_at IS NOT NULL
             FROM sessions s LEFT JOIN workspace_users wu ON wu.workspace_id = s.workspace_id AND wu.user_id = s.user_id
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    r.map(|(id, user, workspace, csrf_token, last_seen_at, expires_at, r, disabled)| {
        Ok(SessionRow {
            id,
            user,
            workspace,
            csrf_token,
            last_seen_at,
            expires_at,
            role: r.as_deref().map(role).transpose()?,
            disabled,
        })
    })
    .transpose()
}

/// A session's person, workspace, CSRF token and absolute end.
pub async fn session_by_id(
    conn: &mut PgConnection,
    id: SessionId,
) -> Result<Option<(UserId, WorkspaceId, String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, workspace_id, csrf_token, expires_at FROM sessions WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records a session's use.
pub async fn touch_session(conn: &mut PgConnection, id: SessionId, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a session to another workspace.
pub async fn switch_session(conn: &mut PgConnection, id: SessionId, ws: WorkspaceId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET workspace_id = $2 WHERE id = $1").bind(id).bind(ws).execute(conn).await?;
    Ok(())
}

/// Ends sessions: one (`only`), or all of a person's but `keep`, or (with
/// `ws`) all of a person's in one workspace.
pub async fn revoke_sessions(
    conn: &mut PgConnection,
    user: UserId,
    ws: Option<WorkspaceId>,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = $4 WHERE user_id = $1 AND revoked_at IS NULL
           AND ($2::uuid IS NULL OR workspace_id = $2) AND ($3::uuid IS NULL OR id <> $3)",
    )
    .bind(user)
    .bind(ws)
    .bind(keep)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Ends one session.
pub async fn revoke_session(conn: &mut PgConnection, id: SessionId, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The latest end of a lock on any of `subjects` still running at `now`.
pub async fn locked_until(
    conn: &mut PgConnection,
    subjects: &[String],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(locked_until) FROM login_throttle WHERE subject = ANY($1) AND locked_until > $2")
        .bind(subjects)
        .bind(now)
        .fetch_one(conn)
        .await
}

/// Counts a failed sign-in for `subject`: a new window once the last one
/// ended; at `limit` failures the subject is locked until the window ends.
pub async fn count_failure(
    conn: &mut PgConnection,
    subject: &str,
    now: DateTime<Utc>,
    window: chrono::Duration,
    limit: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_throttle AS t (subject, failures, window_start, locked_until)
         VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $2 + $3 END)
         ON CONFLICT (subject) DO UPDATE SET
             failures = CASE WHEN t.window_start + $3 <= $2 THEN 1 ELSE t.failures + 1 END,
             window_start = CASE WHEN t.window_start + $3 <= $2 THEN $2 ELSE t.window_start END,
             locked_until = CASE WHEN t.window_start + $3 > $2 AND t.failures + 1 >= $4 THEN t.window_start + $3
                                 WHEN t.window_start + $3 <= $2 AND 1 >= $4 THEN $2 + $3
                                 ELSE t.locked_until END",
    )
    .bind(subject)
    .bind(now)
    .bind(window)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a subject's failures (a successful sign-in of the account).
pub async fn clear_failures(conn: &mut PgConnection, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE subject = $1").bind(subject).execute(conn).await?;
    Ok(())
}
