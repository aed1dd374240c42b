//! All SQL of campaigns.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Campaign, CampaignKind, CampaignStatus, CampaignTarget, Scene};
use crate::ids::{CampaignId, GroupId, LayerId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: CampaignId,
    name: String,
    description: String,
    scene: Scene,
    kind: CampaignKind,
    status: CampaignStatus,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    target_layer_id: Option<LayerId>,
    group_ids: Vec<Uuid>,
    tracking_code: String,
    link: Option<String>,
    settings: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Campaign {
    fn from(r: Row) -> Self {
        let target = match (r.target_layer_id, r.group_ids.is_empty()) {
            (Some(l), _) => Some(CampaignTarget { layer_id: Some(l), group_ids: None }),
            (None, false) => {
                Some(CampaignTarget { layer_id: None, group_ids: Some(r.group_ids.into_iter().map(GroupId).collect()) })
            }
            (None, true) => None,
        };
        Campaign {
            id: r.id,
            name: r.name,
            description: r.description,
            scene: r.scene,
            kind: r.kind,
            status: r.status,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            target,
            tracking_code: r.tracking_code,
            link: r.link,
            settings: r.settings.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT c.id, c.name, c.description, c.scene, c.kind, c.status, c.starts_at, c.ends_at,
    c.target_layer_id, c.tracking_code, c.link, c.settings, c.created_at, c.updated_at,
    ARRAY(SELECT cg.group_id FROM campaign_groups cg WHERE cg.workspace_id = c.workspace_id AND cg.campaign_id = c.id
          ORDER BY cg.group_id) AS group_ids
    FROM campaigns c";

/// Campaign filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<CampaignStatus>,
    pub scene: Option<Scene>,
    pub kind: Option<CampaignKind>,
    pub q: Option<String>,
    pub tracking_code: Option<String>,
}

/// Campaigns, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Campaign>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE c.workspace_id = $1 AND ($2::uuid IS NULL OR c.id < $2)
           AND ($3::text IS NULL OR c.status = $3) AND ($4::text IS NULL OR c.scene = $4)
           AND ($5::text IS NULL OR c.kind = $5) AND ($6::text IS NULL OR c.name ILIKE '%' || $6 || '%')
           AND ($7::text IS NULL OR c.tracking_code = $7)
         ORDER BY c.id DESC LIMIT $8"
    ))
    .bind(ws)
    .bind(after)
    .bind(f.status)
    .bind(f.scene)
    .bind(f.kind)
    .bind(f.q.as_deref().map(crate::validate::like_escape))
    .bind(&f.tracking_code)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Campaign::from).collect())
}

/// One campaign (locked when `for_update`).
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: CampaignId,
    for_update: bool,
) -> Result<Option<Campaign>, sqlx::Error> {
    if for_update {
        sqlx::query("SELECT 1 FROM campaigns WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
            .bind(ws)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE c.workspace_id = $1 AND c.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Campaign::from))
}

/// Inserts a campaign (its target is written by [`set_target`]).
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, c: &Campaign) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO campaigns (workspace_id, id, name, description, scene, kind, status, starts_at, ends_at,
             tracking_code, link, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ws)
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(c.scene)
    .bind(c.kind)
    .bind(c.status)
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(&c.tracking_code)
    .bind(&c.link)
    .bind(Json(&c.settings))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the mutable columns.
pub async fn save(conn: &mut PgConnection, ws: WorkspaceId, c: &Campaign) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE campaigns SET name = $3, description = $4, status = $5, starts_at = $6, ends_at = $7, tracking_code = $8,
             link = $9, settings = $10, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(c.status)
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(&c.tracking_code)
    .bind(&c.link)
    .bind(Json(&c.settings))
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the target.
pub async fn set_target(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: CampaignId,
    t: Option<&CampaignTarget>,
) -> Result<(), sqlx::Error> {
    let layer = t.and_then(|t| t.layer_id);
    let groups: Vec<Uuid> =
        t.and_then(|t| t.group_ids.as_ref()).map(|g| g.iter().map(|g| g.0).collect()).unwrap_or_default();
    sqlx::query("UPDATE campaigns SET target_layer_id = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(layer)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM campaign_groups WHERE workspace_id = $1 AND campaign_id = $2")
        .bind(ws)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO campaign_groups (workspace_id, campaign_id, group_id) SELECT $1, $2, u.gid FROM unnest($3::uuid[]) AS u(gid)
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(id)
    .bind(&groups)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes a campaign; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: CampaignId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM campaigns WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Campaign ids by id (existing ones) and by tracking code.
pub async fn resolve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[Uuid],
    codes: &[String],
) -> Result<(Vec<Uuid>, std::collections::HashMap<String, Uuid>), sqlx::Error> {
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM campaigns WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    let by_code: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT tracking_code, id FROM campaigns WHERE workspace_id = $1 AND tracking_code = ANY($2)")
            .bind(ws)
            .bind(codes)
            .fetch_all(conn)
            .await?;
    Ok((found, by_code.into_iter().collect()))
}
