//! SQL of channels.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Candidate, ChannelStatus, Strategy, Target, UpdateChannel};
use crate::events::model::JoinSource;
use crate::ids::{GroupId, WorkspaceId};

/// A channel as stored (its link is made from the public URL).
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub source: JoinSource,
    pub target: Json<Target>,
    pub capacity_per_group: i32,
    pub strategy: Strategy,
    pub code: String,
    pub status: ChannelStatus,
    pub full_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, source, target, capacity_per_group, strategy, code, status, full_since, created_at, updated_at";

/// Stores a new channel.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, r: &Row) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO channels (workspace_id, id, name, source, target, capacity_per_group, strategy, code, status,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(&r.name)
    .bind(r.source)
    .bind(&r.target)
    .bind(r.capacity_per_group)
    .bind(r.strategy)
    .bind(&r.code)
    .bind(r.status)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One channel.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE workspace_id = $1 AND id = $2");
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Channels, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<ChannelStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channels WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    sqlx::query_as(&sql).bind(ws).bind(status).bind(after).bind(limit).fetch_all(conn).await
}

/// Applies a change; the row after it (None: not in the workspace).
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    u: &UpdateChannel,
    now: DateTime<Utc>,
) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!(
        "UPDATE channels SET name = COALESCE($3, name), source = COALESCE($4, source),
             target = COALESCE($5, target), capacity_per_group = COALESCE($6, capacity_per_group),
             strategy = COALESCE($7, strategy), status = COALESCE($8, status), updated_at = $9
         WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(id)
        .bind(u.name.as_deref().map(str::trim))
        .bind(u.source)
        .bind(u.target.as_ref().map(Json))
        .bind(u.capacity_per_group.map(|c| c as i32))
        .bind(u.strategy)
        .bind(u.status)
        .bind(now)
        .fetch_optional(conn)
        .await
}

/// Deletes a channel; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("DELETE FROM channels WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// The channel of a public code, in any workspace.
pub async fn by_code(conn: &mut PgConnection, code: &str) -> Result<Option<(WorkspaceId, Row)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Found {
        workspace_id: Uuid,
        #[sqlx(flatten)]
        row: Row,
    }
    let sql = format!("SELECT workspace_id, {COLUMNS} FROM channels WHERE code = $1");
    let f: Option<Found> = sqlx::query_as(&sql).bind(code).fetch_optional(conn).await?;
    Ok(f.map(|f| (WorkspaceId(f.workspace_id), f.row)))
}

/// The groups of `ids` as a visit sees them, in the order of `ids`.
pub async fn candidates(conn: &mut PgConnection, ws: WorkspaceId, ids: &[Uuid]) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, bool, Option<String>)> = sqlx::query_as(
        "SELECT g.id,
                (SELECT count(*) FROM memberships m
                  WHERE m.workspace_id = g.workspace_id AND m.group_id = g.id AND m.left_at IS NULL),
                g.status = 'active', g.invite_url
         FROM unnest($2::uuid[]) WITH ORDINALITY AS x(id, ord)
         JOIN groups g ON g.workspace_id = $1 AND g.id = x.id
         ORDER BY x.ord",
    )
    .bind(ws)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, members, open, invite_url)| Candidate { id: GroupId(id), members, open, invite_url })
        .collect())
}

/// Takes the next turn of a round-robin channel: the turn before it.
pub async fn next_turn(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("UPDATE channels SET turn = turn + 1 WHERE workspace_id = $1 AND id = $2 RETURNING turn - 1")
        .bind(ws)
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Marks a channel full now; `true` when it was routing until now (the
/// first visit of a spell, which announces it).
pub async fn mark_full(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("UPDATE channels SET full_since = $3 WHERE workspace_id = $1 AND id = $2 AND full_since IS NULL")
            .bind(ws)
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// Clears a channel's full spell (a group has room again).
pub async fn clear_full(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE channels SET full_since = NULL WHERE workspace_id = $1 AND id = $2 AND full_since IS NOT NULL")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which of `ids` are groups of the workspace.
pub async fn existing_groups(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[GroupId],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}
