//! All SQL of tiers.

use sqlx::{FromRow, PgConnection};

use super::model::{CreateTier, Tier, UpdateTier};
use crate::ids::{TierId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: TierId,
    key: String,
    name: String,
    rank: i32,
    description: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Row> for Tier {
    fn from(r: Row) -> Self {
        Tier {
            id: r.id,
            key: r.key,
            name: r.name,
            rank: r.rank,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, key, name, rank, description, created_at, updated_at";

/// The default tiers of a new workspace.
pub async fn insert_defaults(conn: &mut PgConnection, ws: WorkspaceId) -> Result<(), sqlx::Error> {
    for (key, name, rank, desc) in [
        ("vip", "VIP", 20, "High-value members and groups: more attention, first offers"),
        ("basic", "Basic", 10, "Everyone else"),
    ] {
        sqlx::query(
            "INSERT INTO tiers (workspace_id, id, key, name, rank, description) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ws)
        .bind(TierId::new())
        .bind(key)
        .bind(name)
        .bind(rank)
        .bind(desc)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// All tiers, most valuable first.
pub async fn list(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<Tier>, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tiers WHERE workspace_id = $1 ORDER BY rank DESC, key"))
            .bind(ws)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(Tier::from).collect())
}

/// One tier.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: TierId) -> Result<Option<Tier>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tiers WHERE workspace_id = $1 AND id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Tier::from))
}

/// Whether a tier key exists.
pub async fn key_exists(conn: &mut PgConnection, ws: WorkspaceId, key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tiers WHERE workspace_id = $1 AND key = $2)")
        .bind(ws)
        .bind(key)
        .fetch_one(conn)
        .await
}

/// Number of tiers.
pub async fn count(conn: &mut PgConnection, ws: WorkspaceId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM tiers WHERE workspace_id = $1").bind(ws).fetch_one(conn).await
}

/// Inserts a tier.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, t: &CreateTier) -> Result<Tier, sqlx::Error> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO tiers (workspace_id, id, key, name, rank, description) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(ws)
    .bind(TierId::new())
    .bind(&t.key)
    .bind(t.name.trim())
    .bind(t.rank)
    .bind(t.description.trim())
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Applies a patch.
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: TierId,
    p: &UpdateTier,
) -> Result<Option<Tier>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "UPDATE tiers SET key = COALESCE($3, key), name = COALESCE($4, name), rank = COALESCE($5, rank),
             description = COALESCE($6, description), updated_at = now()
         WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(ws)
    .bind(id)
    .bind(p.key.as_deref())
    .bind(p.name.as_deref().map(str::trim))
    .bind(p.rank)
    .bind(p.description.as_deref().map(str::trim))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Tier::from))
}

/// Deletes a tier; `false` when it did not exist.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: TierId) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("DELETE FROM tiers WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}
