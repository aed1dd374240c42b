//! All SQL of staff and group assignments.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{CreateStaff, GroupStaff, Persona, Staff, UpdateStaff};
use crate::ids::{GroupId, MemberId, StaffId, WorkspaceId};
use crate::platform::{Identity, Platform};

#[derive(FromRow)]
struct Row {
    id: StaffId,
    name: String,
    persona: Persona,
    identities: Json<Vec<Identity>>,
    member_id: Option<MemberId>,
    active: bool,
    group_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Staff {
    fn from(r: Row) -> Self {
        Staff {
            id: r.id,
            name: r.name,
            persona: r.persona,
            identities: r.identities.0,
            member_id: r.member_id,
            active: r.active,
            group_count: r.group_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT s.id, s.name, s.persona, s.identities, s.member_id, s.active, s.created_at, s.updated_at,
    (SELECT count(*) FROM group_staff g WHERE g.workspace_id = s.workspace_id AND g.staff_id = s.id) AS group_count
    FROM staff s";

/// Staff filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub persona: Option<Persona>,
    pub active: Option<bool>,
    pub q: Option<String>,
}

/// Lists staff, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Staff>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE s.workspace_id = $1 AND ($2::uuid IS NULL OR s.id < $2)
           AND ($3::text IS NULL OR s.persona = $3) AND ($4::bool IS NULL OR s.active = $4)
           AND ($5::text IS NULL OR s.name ILIKE '%' || $5 || '%')
         ORDER BY s.id DESC LIMIT $6"
    ))
    .bind(ws)
    .bind(after)
    .bind(f.persona)
    .bind(f.active)
    .bind(f.q.as_deref().map(crate::validate::like_escape))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Staff::from).collect())
}

/// One staff member.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: StaffId) -> Result<Option<Staff>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE s.workspace_id = $1 AND s.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Staff::from))
}

/// Inserts a staff member.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, s: &CreateStaff) -> Result<StaffId, sqlx::Error> {
    let id = StaffId::new();
    sqlx::query(
        "INSERT INTO staff (workspace_id, id, name, persona, identities, member_id, active) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ws)
    .bind(id)
    .bind(s.name.trim())
    .bind(s.persona)
    .bind(Json(&s.identities))
    .bind(s.member_id)
    .bind(s.active)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Applies a patch; `false` when missing.
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: StaffId,
    p: &UpdateStaff,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE staff SET name = COALESCE($3, name), persona = COALESCE($4, persona),
             identities = COALESCE($5, identities), member_id = CASE WHEN $6 THEN $7 ELSE member_id END,
             active = COALESCE($8, active), updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(p.name.as_deref().map(str::trim))
    .bind(p.persona)
    .bind(p.identities.as_ref().map(Json))
    .bind(p.member_id.is_some())
    .bind(p.member_id.flatten())
    .bind(p.active)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a staff member; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: StaffId) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("DELETE FROM staff WHERE workspace_id = $1 AND id = $2").bind(ws).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// Staff of a group.
pub async fn list_for_group(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
) -> Result<Vec<GroupStaff>, sqlx::Error> {
    sqlx::query_as(
        "SELECT gs.group_id, gs.staff_id, s.name, s.persona, gs.role, gs.assigned_at
         FROM group_staff gs JOIN staff s ON s.workspace_id = gs.workspace_id AND s.id = gs.staff_id
         WHERE gs.workspace_id = $1 AND gs.group_id = $2 ORDER BY gs.assigned_at, s.name",
    )
    .bind(ws)
    .bind(group)
    .fetch_all(conn)
    .await
}

/// Assigns (or re-roles) a staff member to a group.
pub async fn assign(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    staff: StaffId,
    role: Persona,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO group_staff (workspace_id, group_id, staff_id, role) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, group_id, staff_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(ws)
    .bind(group)
    .bind(staff)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes an assignment; `false` when there was none.
pub async fn unassign(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    staff: StaffId,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM group_staff WHERE workspace_id = $1 AND group_id = $2 AND staff_id = $3")
        .bind(ws)
        .bind(group)
        .bind(staff)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// For each of `groups` with an owner staff member, that member's account
/// id on `platform` (from their identities).
pub async fn owner_accounts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[GroupId],
    platform: Platform,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, i->>'external_id' FROM groups g
             JOIN staff s ON s.workspace_id = g.workspace_id AND s.id = g.owner_staff_id
             CROSS JOIN LATERAL jsonb_array_elements(s.identities) i
         WHERE g.workspace_id = $1 AND g.id = ANY($2) AND i->>'platform' = $3",
    )
    .bind(ws)
    .bind(groups)
    .bind(platform.as_str())
    .fetch_all(conn)
    .await
}
