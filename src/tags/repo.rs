//! All SQL of tags, and attaching tags to groups and members.

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{CreateTag, Tag, UpdateTag};
use crate::ids::{TagId, WorkspaceId};

const SELECT: &str = "SELECT t.id, t.name, t.color, t.description, t.created_at, t.updated_at,
    (SELECT count(*) FROM group_tags g WHERE g.workspace_id = t.workspace_id AND g.tag_id = t.id) AS group_count,
    (SELECT count(*) FROM member_tags m WHERE m.workspace_id = t.workspace_id AND m.tag_id = t.id) AS member_count
    FROM tags t";

/// Lists tags, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    q: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Tag>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE t.workspace_id = $1 AND ($2::uuid IS NULL OR t.id < $2)
           AND ($3::text IS NULL OR t.name ILIKE '%' || $3 || '%')
         ORDER BY t.id DESC LIMIT $4"
    ))
    .bind(ws)
    .bind(after)
    .bind(q.map(crate::validate::like_escape))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One tag.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: TagId) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE t.workspace_id = $1 AND t.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Inserts a tag.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, t: &CreateTag) -> Result<TagId, sqlx::Error> {
    let id = TagId::new();
    sqlx::query("INSERT INTO tags (workspace_id, id, name, color, description) VALUES ($1, $2, $3, $4, $5)")
        .bind(ws)
        .bind(id)
        .bind(t.name.trim())
        .bind(&t.color)
        .bind(t.description.trim())
        .execute(conn)
        .await?;
    Ok(id)
}

/// Applies a patch; `false` when missing.
pub async fn update(conn: &mut PgConnection, ws: WorkspaceId, id: TagId, p: &UpdateTag) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE tags SET name = COALESCE($3, name), color = CASE WHEN $4 THEN $5 ELSE color END,
            description = COALESCE($6, description), updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(p.name.as_deref().map(str::trim))
    .bind(p.color.is_some())
    .bind(p.color.clone().flatten())
    .bind(p.description.as_deref().map(str::trim))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a tag; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: TagId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM tags WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// Ids of the named tags, creating missing ones.
pub async fn ensure(conn: &mut PgConnection, ws: WorkspaceId, names: &[String]) -> Result<Vec<Uuid>, sqlx::Error> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let new_ids: Vec<Uuid> = names.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO tags (workspace_id, id, name) SELECT $1, u.id, u.name FROM unnest($2::uuid[], $3::text[]) AS u(id, name)
         ON CONFLICT (workspace_id, name) DO NOTHING",
    )
    .bind(ws)
    .bind(&new_ids)
    .bind(names)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT id FROM tags WHERE workspace_id = $1 AND name = ANY($2)")
        .bind(ws)
        .bind(names)
        .fetch_all(conn)
        .await
}

/// Which object a tag set belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Group(Uuid),
    Member(Uuid),
}

/// Replaces the tags of a group or member.
pub async fn replace(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    owner: Owner,
    names: &[String],
) -> Result<(), sqlx::Error> {
    let ids = ensure(conn, ws, names).await?;
    let (table, col, id) = match owner {
        Owner::Group(id) => ("group_tags", "group_id", id),
        Owner::Member(id) => ("member_tags", "member_id", id),
    };
    sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1 AND {col} = $2 AND NOT (tag_id = ANY($3))"))
        .bind(ws)
        .bind(id)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO {table} (workspace_id, {col}, tag_id) SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING"
    ))
    .bind(ws)
    .bind(id)
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}
