//! All SQL of groups.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{CreateGroup, Group, GroupStatus, UpdateGroup};
use crate::http::patch::apply;
use crate::ids::{GroupId, StaffId, WorkspaceId};
use crate::platform::{Platform, PlatformIds};
use crate::tags::repo::{self as tags, Owner};

#[derive(FromRow)]
struct Row {
    id: GroupId,
    platform: Platform,
    external_id: String,
    name: String,
    timezone: Option<String>,
    region: Option<String>,
    category: Option<String>,
    tier: Option<String>,
    owner_staff_id: Option<StaffId>,
    status: GroupStatus,
    invite_url: Option<String>,
    notice: String,
    rules: String,
    attributes: Json<serde_json::Value>,
    tags: Vec<String>,
    member_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Group {
    fn from(r: Row) -> Self {
        Group {
            id: r.id,
            platform: r.platform,
            external_id: r.external_id,
            name: r.name,
            timezone: r.timezone,
            region: r.region,
            category: r.category,
            tier: r.tier,
            owner_staff_id: r.owner_staff_id,
            status: r.status,
            invite_url: r.invite_url,
            notice: r.notice,
            rules: r.rules,
            attributes: r.attributes.0,
            tags: r.tags,
            member_count: r.member_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT g.id, g.platform, g.external_id, g.name, g.timezone, g.region, g.category, g.tier,
    g.owner_staff_id, g.status, g.invite_url, g.notice, g.rules, g.attributes, g.created_at, g.updated_at,
    ARRAY(SELECT t.name FROM group_tags gt JOIN tags t ON t.workspace_id = gt.workspace_id AND t.id = gt.tag_id
          WHERE gt.workspace_id = g.workspace_id AND gt.group_id = g.id ORDER BY t.name) AS tags,
    (SELECT count(*) FROM memberships m
      WHERE m.workspace_id = g.workspace_id AND m.group_id = g.id AND m.left_at IS NULL) AS member_count
    FROM groups g";

/// Which groups: the one selector behind the group list and layers.
///
/// A group matches when its status is in `statuses` (empty: any), it is not
/// in `exclude_ids`, it matches `q` and `owner_staff_id` when given, and
/// either it is in `include_ids`, or the rule matches: every non-empty
/// criterion holds (`platforms`, `tiers`, `regions`, `categories`: any of
/// the values; `tags_any`: at least one tag; `tags_all`: every tag). The rule
/// applies when it has a criterion or `include_ids` is empty (so explicit
/// ids alone select just those groups, and an empty filter selects all).
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub statuses: Vec<GroupStatus>,
    pub platforms: Vec<Platform>,
    pub tiers: Vec<String>,
    pub regions: Vec<String>,
    pub categories: Vec<String>,
    pub tags_any: Vec<String>,
    pub tags_all: Vec<String>,
    pub include_ids: Vec<Uuid>,
    pub exclude_ids: Vec<Uuid>,
    pub q: Option<String>,
    pub owner_staff_id: Option<StaffId>,
}

impl GroupFilter {
    fn rule_applies(&self) -> bool {
        let has_criterion = !(self.platforms.is_empty()
            && self.tiers.is_empty()
            && self.regions.is_empty()
            && self.categories.is_empty()
            && self.tags_any.is_empty()
            && self.tags_all.is_empty());
        has_criterion || self.include_ids.is_empty()
    }
}

/// The WHERE clause of [`GroupFilter`] over `g` ($1 workspace, $2..$13
/// criteria, $14 cursor, $15 limit; see [`bind_filter`]).
fn filter_sql(select: &str) -> String {
    filter_sql_and(select, "")
}

/// [`filter_sql`] with one more condition (binds from $16).
fn filter_sql_and(select: &str, and: &str) -> String {
    let tag_match = "FROM group_tags gt JOIN tags t ON t.workspace_id = gt.workspace_id AND t.id = gt.tag_id
                     WHERE gt.workspace_id = g.workspace_id AND gt.group_id = g.id";
    format!(
        "{select} WHERE g.workspace_id = $1
           AND (cardinality($2::text[]) = 0 OR g.status = ANY($2))
           AND NOT (g.id = ANY($3::uuid[]))
           AND ($4::text IS NULL OR g.name ILIKE '%' || $4 || '%')
           AND ($5::uuid IS NULL OR g.owner_staff_id = $5)
           AND (g.id = ANY($6::uuid[]) OR ($7
                AND (cardinality($8::text[]) = 0 OR g.platform = ANY($8))
                AND (cardinality($9::text[]) = 0 OR g.tier = ANY($9))
                AND (cardinality($10::text[]) = 0 OR g.region = ANY($10))
                AND (cardinality($11::text[]) = 0 OR g.category = ANY($11))
                AND (cardinality($12::text[]) = 0 OR EXISTS (SELECT 1 {tag_match} AND t.name = ANY($12)))
                AND (cardinality($13::text[]) = 0
                     OR (SELECT count(DISTINCT t.name) {tag_match} AND t.name = ANY($13)) = cardinality($13))))
           AND ($14::uuid IS NULL OR g.id < $14) {and}
         ORDER BY g.id DESC LIMIT $15"
    )
}

/// Whether group `id` matches `f` (one index probe, whatever the number of groups).
pub async fn matches(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &GroupFilter,
    id: GroupId,
) -> Result<bool, sqlx::Error> {
    let sql = filter_sql_and("SELECT g.id FROM groups g", "AND g.id = $16");
    let found: Option<(Uuid,)> =
        bind_filter(sqlx::query_as(&sql), ws, f, None, 1).bind(id).fetch_optional(conn).await?;
    Ok(found.is_some())
}

type PgQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

fn bind_filter<'q, O>(
    q: PgQueryAs<'q, O>,
    ws: WorkspaceId,
    f: &'q GroupFilter,
    after: Option<Uuid>,
    limit: i64,
) -> PgQueryAs<'q, O> {
    q.bind(ws)
        .bind(f.statuses.clone())
        .bind(&f.exclude_ids)
        .bind(f.q.as_deref().map(crate::validate::like_escape))
        .bind(f.owner_staff_id)
        .bind(&f.include_ids)
        .bind(f.rule_applies())
        .bind(f.platforms.clone())
        .bind(&f.tiers)
        .bind(&f.regions)
        .bind(&f.categories)
        .bind(&f.tags_any)
        .bind(&f.tags_all)
        .bind(after)
        .bind(limit)
}

/// Groups matching `f`, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &GroupFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Group>, sqlx::Error> {
    let sql = filter_sql(SELECT);
    let rows: Vec<Row> = bind_filter(sqlx::query_as(&sql), ws, f, after, limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Group::from).collect())
}

/// A group as a schedule sees it: id, effective timezone, creation time.
#[derive(Debug, Clone, FromRow)]
pub struct ScheduleTarget {
    pub id: GroupId,
    /// The group's timezone, else the workspace's.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

/// Every group matching `f` (no paging), as schedule targets.
pub async fn schedule_targets(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &GroupFilter,
) -> Result<Vec<ScheduleTarget>, sqlx::Error> {
    let sql = filter_sql(
        "SELECT g.id, coalesce(g.timezone, (SELECT w.timezone FROM workspaces w WHERE w.id = g.workspace_id)) AS timezone,
                g.created_at FROM groups g",
    );
    bind_filter(sqlx::query_as(&sql), ws, f, None, i64::MAX).fetch_all(conn).await
}

/// One group.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: GroupId) -> Result<Option<Group>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE g.workspace_id = $1 AND g.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Group::from))
}

/// The platform of each of `ids` that is in the workspace.
pub async fn platforms(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, crate::platform::Platform)>, sqlx::Error> {
    sqlx::query_as("SELECT id, platform FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Whether a group exists in the workspace.
pub async fn exists(conn: &mut PgConnection, ws: WorkspaceId, id: GroupId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE workspace_id = $1 AND id = $2)")
        .bind(ws)
        .bind(id)
        .fetch_one(conn)
        .await
}

/// The timezones of those of `ids` that exist (None: the workspace's).
pub async fn timezones(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[GroupId],
) -> Result<Vec<(GroupId, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, timezone FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Which of `ids` are not groups of the workspace.
pub async fn missing(conn: &mut PgConnection, ws: WorkspaceId, ids: &[GroupId]) -> Result<Vec<GroupId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u FROM unnest($2::uuid[]) AS u WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.workspace_id = $1 AND g.id = u)",
    )
    .bind(ws)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Inserts a group with its tags.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, g: &CreateGroup) -> Result<GroupId, sqlx::Error> {
    let id = GroupId::new();
    sqlx::query(
        "INSERT INTO groups (workspace_id, id, platform, external_id, name, timezone, region, category, tier,
             owner_staff_id, status, notice, rules, attributes, invite_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(ws)
    .bind(id)
    .bind(g.platform)
    .bind(&g.external_id)
    .bind(g.name.trim())
    .bind(&g.timezone)
    .bind(g.region.as_deref().map(str::trim))
    .bind(g.category.as_deref().map(str::trim))
    .bind(&g.tier)
    .bind(g.owner_staff_id)
    .bind(g.status.unwrap_or(GroupStatus::Active))
    .bind(&g.notice)
    .bind(&g.rules)
    .bind(Json(g.attributes.clone().unwrap_or_else(|| serde_json::json!({}))))
    .bind(&g.invite_url)
    .execute(&mut *conn)
    .await?;
    tags::replace(conn, ws, Owner::Group(id.0), &crate::tags::model::normalize(&g.tags)).await?;
    Ok(id)
}

/// Applies a patch to a locked row; `false` when missing.
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: GroupId,
    p: UpdateGroup,
) -> Result<bool, sqlx::Error> {
    let Some(mut g) = get_for_update(conn, ws, id).await? else { return Ok(false) };
    if let Some(n) = p.name {
        g.name = n.trim().to_owned();
    }
    apply(&mut g.timezone, p.timezone);
    apply(&mut g.region, p.region.map(|o| o.map(|s| s.trim().to_owned())));
    apply(&mut g.category, p.category.map(|o| o.map(|s| s.trim().to_owned())));
    apply(&mut g.tier, p.tier);
    apply(&mut g.owner_staff_id, p.owner_staff_id);
    g.status = p.status.unwrap_or(g.status);
    apply(&mut g.invite_url, p.invite_url);
    g.notice = p.notice.unwrap_or(g.notice);
    g.rules = p.rules.unwrap_or(g.rules);
    g.attributes = p.attributes.unwrap_or(g.attributes);
    sqlx::query(
        "UPDATE groups SET name = $3, timezone = $4, region = $5, category = $6, tier = $7, owner_staff_id = $8,
             status = $9, notice = $10, rules = $11, attributes = $12, invite_url = $13, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(&g.name)
    .bind(&g.timezone)
    .bind(&g.region)
    .bind(&g.category)
    .bind(&g.tier)
    .bind(g.owner_staff_id)
    .bind(g.status)
    .bind(&g.notice)
    .bind(&g.rules)
    .bind(Json(&g.attributes))
    .bind(&g.invite_url)
    .execute(&mut *conn)
    .await?;
    if let Some(t) = p.tags {
        tags::replace(conn, ws, Owner::Group(id.0), &crate::tags::model::normalize(&t)).await?;
    }
    Ok(true)
}

/// One group, its row locked for the transaction.
pub async fn get_for_update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: GroupId,
) -> Result<Option<Group>, sqlx::Error> {
    sqlx::query("SELECT 1 FROM groups WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind(ws)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    get(conn, ws, id).await
}

/// Group ids for platform chat ids, registering unknown groups (named by
/// `name` or the chat id) so a platform can connect before any set-up.
pub async fn ensure_by_external(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    refs: &[(Platform, String, Option<String>)],
    cache: &PlatformIds,
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<(Platform, String), Uuid>, sqlx::Error> {
    let mut found = cache.get(ws, 0, refs.iter().map(|r| (r.0, r.1.as_str())));
    let unknown: Vec<(Platform, String, Option<String>)> =
        refs.iter().filter(|r| !found.contains_key(&(r.0, r.1.clone()))).cloned().collect();
    if unknown.is_empty() {
        return Ok(found);
    }
    found.extend(lookup_external(conn, ws, &unknown, cache).await?);
    let mut missing: Vec<&(Platform, String, Option<String>)> =
        unknown.iter().filter(|r| !found.contains_key(&(r.0, r.1.clone()))).collect();
    if missing.is_empty() {
        return Ok(found);
    }
    // One key order for every transaction: concurrent batches creating the
    // same groups then wait on each other in one direction, never in a cycle.
    missing.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    missing.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let ids: Vec<Uuid> = missing.iter().map(|_| Uuid::now_v7()).collect();
    let platforms: Vec<Platform> = missing.iter().map(|r| r.0).collect();
    let externals: Vec<&str> = missing.iter().map(|r| r.1.as_str()).collect();
    let names: Vec<String> =
        missing.iter().map(|r| r.2.clone().unwrap_or_else(|| format!("{} {}", r.0.as_str(), r.1))).collect();
    let created: Vec<(GroupId, Platform, String, String)> = sqlx::query_as(
        "INSERT INTO groups (workspace_id, id, platform, external_id, name)
         SELECT $1, u.id, u.p, u.e, u.n FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS u(id, p, e, n)
         ON CONFLICT ON CONSTRAINT groups_platform_external_id_key DO NOTHING
         RETURNING id, platform, external_id, name",
    )
    .bind(ws)
    .bind(&ids)
    .bind(&platforms)
    .bind(&externals)
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let news: Vec<super::outbound::Created<'_>> = created
        .iter()
        .map(|(id, p, e, n)| super::outbound::Created { id: *id, name: n, platform: *p, external_id: e })
        .collect();
    super::outbound::created(conn, ws, &news, "platform", now).await?;
    let owned: Vec<(Platform, String, Option<String>)> = missing.into_iter().cloned().collect();
    found.extend(lookup_external(conn, ws, &owned, cache).await?);
    Ok(found)
}

/// Looks groups up (the chat id → group id cache, `IdCaches::groups`, keeps
/// entries under epoch 0 for good: groups are not deleted and their platform
/// ids are immutable), one index probe per reference whatever plan is cached
/// (see members::repo), and caches the ids of rows known to be committed:
/// those whose inserting transaction is older than every transaction still
/// running when this statement's snapshot was taken. A row this transaction
/// created (it may still roll back) is never older than that, nor is one
/// committed moments ago — those are simply looked up again next time.
async fn lookup_external(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    refs: &[(Platform, String, Option<String>)],
    cache: &PlatformIds,
) -> Result<std::collections::HashMap<(Platform, String), Uuid>, sqlx::Error> {
    let platforms: Vec<Platform> = refs.iter().map(|r| r.0).collect();
    let externals: Vec<&str> = refs.iter().map(|r| r.1.as_str()).collect();
    let rows: Vec<(Platform, String, Uuid, bool)> = sqlx::query_as(
        "SELECT u.p, u.e, g.id, age(g.xmin) > age(pg_snapshot_xmin(pg_current_snapshot())::xid)
         FROM unnest($2::text[], $3::text[]) AS u(p, e)
         CROSS JOIN LATERAL (SELECT id, xmin FROM groups
                             WHERE workspace_id = $1 AND platform = u.p AND external_id = u.e LIMIT 1) g",
    )
    .bind(ws)
    .bind(&platforms)
    .bind(&externals)
    .fetch_all(conn)
    .await?;
    cache.put(ws, 0, rows.iter().filter(|r| r.3).map(|(p, e, id, _)| (*p, e.as_str(), *id)));
    Ok(rows.into_iter().map(|(p, e, id, _)| ((p, e), id)).collect())
}

/// Every group's tier, by group id.
pub async fn tiers(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<(Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, tier FROM groups WHERE workspace_id = $1").bind(ws).fetch_all(conn).await
}

/// Sets a group's status (platform lifecycle, e.g. dismissed), telling the
/// endpoints when it changed.
pub async fn set_status(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: GroupId,
    status: GroupStatus,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(before) = get_for_update(conn, ws, id).await? else { return Ok(()) };
    sqlx::query("UPDATE groups SET status = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(status)
        .execute(&mut *conn)
        .await?;
    super::outbound::status_changed(conn, ws, (id, &before.name), before.status, status, at).await
}

/// The names of those of `ids` that are in the workspace.
pub async fn names(conn: &mut PgConnection, ws: WorkspaceId, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}
