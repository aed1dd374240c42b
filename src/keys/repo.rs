//! All SQL of API keys.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::model::{generate_key, hash_key, ApiKeyView, CreatedApiKey, Role, DISPLAY_PREFIX_LEN};
use crate::ids::{ApiKeyId, WorkspaceId};

/// What authentication needs about a key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub workspace_id: WorkspaceId,
    pub id: ApiKeyId,
    pub role: Role,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, prefix, role, created_at, last_used_at, revoked_at";

fn view(row: &sqlx::postgres::PgRow) -> Result<ApiKeyView, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(ApiKeyView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("bad role {role}").into()))?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Creates a key and returns it with its secret.
pub async fn create(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    role: Role,
    name: &str,
    created_by: Option<ApiKeyId>,
) -> anyhow::Result<CreatedApiKey> {
    let key = generate_key()?;
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (workspace_id, id, name, prefix, key_hash, role, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(ws)
    .bind(ApiKeyId::new())
    .bind(name)
    .bind(&key[..DISPLAY_PREFIX_LEN])
    .bind(hash_key(&key))
    .bind(role.as_str())
    .bind(created_by)
    .fetch_one(conn)
    .await?;
    Ok(CreatedApiKey { view: view(&row)?, key })
}

/// Finds a live (not revoked) key by the hash of its secret.
pub async fn find_live_by_hash(pool: &PgPool, hash: &[u8]) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT workspace_id, id, role, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let role: String = r.try_get("role")?;
        Ok(KeyRecord {
            workspace_id: r.try_get("workspace_id")?,
            id: r.try_get("id")?,
            role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode("bad role".into()))?,
            last_used_at: r.try_get("last_used_at")?,
        })
    })
    .transpose()
}

/// Records use of a key.
pub async fn touch(pool: &PgPool, ws: WorkspaceId, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Lists keys, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ApiKeyView>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(ws)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(view).collect()
}

/// One key.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: ApiKeyId) -> Result<Option<ApiKeyView>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE workspace_id = $1 AND id = $2 FOR UPDATE"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(view).transpose()
}

/// Live owner keys of a workspace, locked (for the last-owner check).
pub async fn count_live_owners(conn: &mut PgConnection, ws: WorkspaceId) -> Result<i64, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE workspace_id = $1 AND role = 'owner' AND revoked_at IS NULL FOR UPDATE",
    )
    .bind(ws)
    .fetch_all(conn)
    .await?;
    Ok(ids.len() as i64)
}

/// Revokes a key (idempotent).
pub async fn revoke(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: ApiKeyId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
