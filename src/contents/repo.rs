//! All SQL of contents, and the lookups that fill a template's variables.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Content, ContentKind, MessageBody};
use super::template::Context;
use crate::ids::{CampaignId, ContentId, GroupId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: ContentId,
    name: String,
    kind: ContentKind,
    body: Json<MessageBody>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Content {
    fn from(r: Row) -> Self {
        Content {
            id: r.id,
            name: r.name,
            kind: r.kind,
            variables: r.body.0.variables(),
            body: r.body.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, kind, body, created_at, updated_at";

/// Contents, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    kind: Option<ContentKind>,
    q: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Content>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contents WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
           AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR name ILIKE '%' || $4 || '%')
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(ws)
    .bind(after)
    .bind(kind)
    .bind(q.map(crate::validate::like_escape))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Content::from).collect())
}

/// One content.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: ContentId) -> Result<Option<Content>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM contents WHERE workspace_id = $1 AND id = $2"))
            .bind(ws)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Content::from))
}

/// Several contents by id (missing ones are left out).
pub async fn get_many(conn: &mut PgConnection, ws: WorkspaceId, ids: &[Uuid]) -> Result<Vec<Content>, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM contents WHERE workspace_id = $1 AND id = ANY($2)"))
            .bind(ws)
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(Content::from).collect())
}

/// Inserts or overwrites a content.
pub async fn upsert(conn: &mut PgConnection, ws: WorkspaceId, c: &Content) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contents (workspace_id, id, name, kind, body) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, id) DO UPDATE SET name = $3, kind = $4, body = $5, updated_at = now()",
    )
    .bind(ws)
    .bind(c.id)
    .bind(&c.name)
    .bind(c.kind)
    .bind(Json(&c.body))
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes a content; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: ContentId) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("DELETE FROM contents WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// What a group contributes to a template.
#[derive(Debug, Clone, FromRow)]
pub struct GroupVars {
    pub id: GroupId,
    pub name: String,
    pub region: Option<String>,
    pub category: Option<String>,
    pub tier: Option<String>,
    /// The group's timezone, else the workspace's.
    pub timezone: String,
}

/// Template values of groups.
pub async fn group_vars(conn: &mut PgConnection, ws: WorkspaceId, ids: &[Uuid]) -> Result<Vec<GroupVars>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.name, g.region, g.category, g.tier, coalesce(g.timezone, w.timezone) AS timezone
         FROM groups g JOIN workspaces w ON w.id = g.workspace_id
         WHERE g.workspace_id = $1 AND g.id = ANY($2)",
    )
    .bind(ws)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// What a campaign contributes to a template.
#[derive(Debug, Clone, FromRow)]
pub struct CampaignVars {
    pub name: String,
    pub link: Option<String>,
    pub tracking_code: String,
}

impl GroupVars {
    /// Fills `group.*`.
    pub fn fill(&self, ctx: &mut Context) {
        ctx.group_name = self.name.clone();
        ctx.group_region = self.region.clone().unwrap_or_default();
        ctx.group_category = self.category.clone().unwrap_or_default();
        ctx.group_tier = self.tier.clone().unwrap_or_default();
    }
}

impl CampaignVars {
    /// Fills `campaign.*`.
    pub fn fill(&self, ctx: &mut Context) {
        ctx.campaign_name = self.name.clone();
        ctx.campaign_link = self.link.clone().unwrap_or_default();
        ctx.campaign_tracking_code = self.tracking_code.clone();
    }
}

/// What a campaign contributes to a template.
pub async fn campaign_vars(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: CampaignId,
) -> Result<Option<CampaignVars>, sqlx::Error> {
    sqlx::query_as("SELECT name, link, tracking_code FROM campaigns WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}
