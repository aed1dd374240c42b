//! All SQL of layers.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Layer, LayerSelector};
use crate::ids::{LayerId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: LayerId,
    name: String,
    description: String,
    selector: Json<LayerSelector>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Layer {
    fn from(r: Row) -> Self {
        Layer {
            id: r.id,
            name: r.name,
            description: r.description,
            selector: r.selector.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, description, selector, created_at, updated_at";

/// Layers, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Layer>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM layers WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(ws)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Layer::from).collect())
}

/// One layer.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: LayerId) -> Result<Option<Layer>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM layers WHERE workspace_id = $1 AND id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Layer::from))
}

/// Inserts a layer.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    name: &str,
    description: &str,
    selector: &LayerSelector,
) -> Result<LayerId, sqlx::Error> {
    let id = LayerId::new();
    sqlx::query("INSERT INTO layers (workspace_id, id, name, description, selector) VALUES ($1, $2, $3, $4, $5)")
        .bind(ws)
        .bind(id)
        .bind(name)
        .bind(description)
        .bind(Json(selector))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Writes a changed layer.
pub async fn save(conn: &mut PgConnection, ws: WorkspaceId, l: &Layer) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE layers SET name = $3, description = $4, selector = $5, updated_at = now() WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(l.id)
    .bind(&l.name)
    .bind(&l.description)
    .bind(Json(&l.selector))
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes a layer; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: LayerId) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("DELETE FROM layers WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}
