//! All SQL of members, identities and tier history.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{CreateMember, Member, TierChange};
use crate::audit::Actor;
use crate::ids::{MemberId, WorkspaceId};
use crate::platform::{Identity, Platform, PlatformIds};
use crate::tags::repo::{self as tags, Owner};

#[derive(FromRow)]
struct Row {
    id: MemberId,
    display_name: String,
    phone: Option<String>,
    email: Option<String>,
    identities: Json<Vec<Identity>>,
    attributes: Json<serde_json::Value>,
    tags: Vec<String>,
    is_staff: bool,
    is_bot: bool,
    tier: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_active_at: Option<DateTime<Utc>>,
    erased_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Member {
    fn from(r: Row) -> Self {
        Member {
            id: r.id,
            display_name: r.display_name,
            phone: r.phone,
            email: r.email,
            identities: r.identities.0,
            attributes: r.attributes.0,
            tags: r.tags,
            is_staff: r.is_staff,
            is_bot: r.is_bot,
            tier: r.tier,
            first_seen_at: r.first_seen_at,
            last_active_at: r.last_active_at,
            erased_at: r.erased_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

// First seen and last active come from the events (an index scan per member)
// rather than being written on every event: ingestion never updates members.
const SELECT: &str = "SELECT m.id, m.display_name, m.phone, m.email, m.attributes, m.is_staff, m.is_bot, m.tier,
    LEAST(m.first_seen_at, (SELECT min(e.occurred_at) FROM events e
                            WHERE e.workspace_id = m.workspace_id AND e.member_id = m.id)) AS first_seen_at,
    GREATEST(m.last_active_at, (SELECT max(e.occurred_at) FROM events e
                                WHERE e.workspace_id = m.workspace_id AND e.member_id = m.id
                                  AND e.type IN ('message_sent', 'checked_in', 'link_clicked', 'coupon_claimed',
                                                 'order_placed', 'order_paid'))) AS last_active_at,
    m.erased_at, m.created_at, m.updated_at,
    COALESCE((SELECT json_agg(json_build_object('platform', i.platform, 'external_id', i.external_id)
                               ORDER BY i.platform, i.external_id)
              FROM member_identities i WHERE i.workspace_id = m.workspace_id AND i.member_id = m.id), '[]') AS identities,
    ARRAY(SELECT t.name FROM member_tags mt JOIN tags t ON t.workspace_id = mt.workspace_id AND t.id = mt.tag_id
          WHERE mt.workspace_id = m.workspace_id AND mt.member_id = m.id ORDER BY t.name) AS tags
    FROM members m";

/// Member filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub q: Option<String>,
    pub tier: Option<String>,
    pub tag: Option<String>,
    pub platform: Option<Platform>,
    pub external_id: Option<String>,
    pub is_staff: Option<bool>,
    pub is_bot: Option<bool>,
    pub include_erased: bool,
}

/// Members matching `f`, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.workspace_id = $1 AND ($2::uuid IS NULL OR m.id < $2)
           AND ($3::text IS NULL OR m.display_name ILIKE '%' || $3 || '%')
           AND ($4::text IS NULL OR m.tier = $4)
           AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM member_tags mt JOIN tags t
                 ON t.workspace_id = mt.workspace_id AND t.id = mt.tag_id
                 WHERE mt.workspace_id = m.workspace_id AND mt.member_id = m.id AND t.name = $5))
           AND (($6::text IS NULL AND $7::text IS NULL) OR EXISTS (SELECT 1 FROM member_identities i
                 WHERE i.workspace_id = m.workspace_id AND i.member_id = m.id
                   AND ($6::text IS NULL OR i.platform = $6) AND ($7::text IS NULL OR i.external_id = $7)))
           AND ($8::bool IS NULL OR m.is_staff = $8) AND ($9::bool IS NULL OR m.is_bot = $9)
           AND ($10 OR m.erased_at IS NULL)
         ORDER BY m.id DESC LIMIT $11"
    ))
    .bind(ws)
    .bind(after)
    .bind(f.q.as_deref().map(crate::validate::like_escape))
    .bind(&f.tier)
    .bind(&f.tag)
    .bind(f.platform)
    .bind(&f.external_id)
    .bind(f.is_staff)
    .bind(f.is_bot)
    .bind(f.include_erased)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Member::from).collect())
}

/// One member.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: MemberId) -> Result<Option<Member>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE m.workspace_id = $1 AND m.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Member::from))
}

/// Locks a member row and returns it.
pub async fn get_for_update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query("SELECT 1 FROM members WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind(ws)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    get(conn, ws, id).await
}

/// Inserts a member with identities and tags.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    m: &CreateMember,
    now: DateTime<Utc>,
) -> Result<MemberId, sqlx::Error> {
    let id = MemberId::new();
    sqlx::query(
        "INSERT INTO members (workspace_id, id, display_name, phone, email, attributes, is_staff, is_bot, tier, first_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(ws)
    .bind(id)
    .bind(m.display_name.trim())
    .bind(&m.phone)
    .bind(&m.email)
    .bind(Json(m.attributes.clone().unwrap_or_else(|| serde_json::json!({}))))
    .bind(m.is_staff)
    .bind(m.is_bot)
    .bind(&m.tier)
    .bind(m.first_seen_at.unwrap_or(now))
    .execute(&mut *conn)
    .await?;
    replace_identities(conn, ws, id, &m.identities).await?;
    tags::replace(conn, ws, Owner::Member(id.0), &crate::tags::model::normalize(&m.tags)).await?;
    Ok(id)
}

/// Replaces a member's identities.
pub async fn replace_identities(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
    ids: &[Identity],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM member_identities WHERE workspace_id = $1 AND member_id = $2")
        .bind(ws)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let platforms: Vec<&str> = ids.iter().map(|i| i.platform.as_str()).collect();
    let externals: Vec<&str> = ids.iter().map(|i| i.external_id.as_str()).collect();
    sqlx::query(
        "INSERT INTO member_identities (workspace_id, platform, external_id, member_id)
         SELECT $1, u.p, u.e, $2 FROM unnest($3::text[], $4::text[]) AS u(p, e)",
    )
    .bind(ws)
    .bind(id)
    .bind(&platforms)
    .bind(&externals)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the mutable columns of a member.
pub async fn save(conn: &mut PgConnection, ws: WorkspaceId, m: &Member) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE members SET display_name = $3, phone = $4, email = $5, attributes = $6, is_staff = $7, is_bot = $8,
             updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(m.id)
    .bind(&m.display_name)
    .bind(&m.phone)
    .bind(&m.email)
    .bind(Json(&m.attributes))
    .bind(m.is_staff)
    .bind(m.is_bot)
    .execute(conn)
    .await?;
    Ok(())
}

/// A tier change to record.
#[derive(Debug, Clone, Copy)]
pub struct NewTierChange<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub reason: &'a str,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Changes the tier and records the change.
pub async fn set_tier(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
    c: NewTierChange<'_>,
) -> Result<(), sqlx::Error> {
    let NewTierChange { from, to, reason, actor, at } = c;
    sqlx::query("UPDATE members SET tier = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(to)
        .execute(&mut *conn)
        .await?;
    let (actor_type, actor_id) = actor.parts();
    sqlx::query(
        "INSERT INTO member_tier_changes (workspace_id, id, member_id, from_tier, to_tier, reason, actor_type, actor_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ws)
    .bind(Uuid::now_v7())
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(actor_type)
    .bind(actor_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes the tier only while it is still `c.from` (a change decided on
/// an earlier read, e.g. by the tier rules, loses to one made meanwhile);
/// records the change when made. Returns whether it was.
pub async fn set_tier_if_unchanged(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
    c: NewTierChange<'_>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE members SET tier = $4, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND tier IS NOT DISTINCT FROM $3",
    )
    .bind(ws)
    .bind(id)
    .bind(c.from)
    .bind(c.to)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    let (actor_type, actor_id) = c.actor.parts();
    sqlx::query(
        "INSERT INTO member_tier_changes (workspace_id, id, member_id, from_tier, to_tier, reason, actor_type, actor_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ws)
    .bind(Uuid::now_v7())
    .bind(id)
    .bind(c.from)
    .bind(c.to)
    .bind(c.reason)
    .bind(actor_type)
    .bind(actor_id)
    .bind(c.at)
    .execute(conn)
    .await?;
    Ok(true)
}

/// Tier history, newest first.
pub async fn tier_history(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TierChange>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, from_tier, to_tier, reason, actor_type, actor_id, changed_at FROM member_tier_changes
         WHERE workspace_id = $1 AND member_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(ws)
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The tiers of `ids` (members of the workspace).
pub async fn tiers_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[MemberId],
) -> Result<Vec<(MemberId, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, tier FROM members WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// The members rules judge (not erased, not staff, not bots): id, tier and
/// when a person (not Shequn) last set the tier.
pub async fn judged(
    conn: &mut PgConnection,
    ws: WorkspaceId,
) -> Result<Vec<(MemberId, Option<String>, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.id, m.tier, h.changed_at
         FROM members m
         LEFT JOIN (SELECT DISTINCT ON (member_id) member_id, changed_at FROM member_tier_changes
                    WHERE workspace_id = $1 AND actor_type <> 'system' ORDER BY member_id, changed_at DESC) h
                ON h.member_id = m.id
         WHERE m.workspace_id = $1 AND m.erased_at IS NULL AND NOT m.is_staff AND NOT m.is_bot",
    )
    .bind(ws)
    .fetch_all(conn)
    .await
}

/// The members of a tier.
pub async fn in_tier(conn: &mut PgConnection, ws: WorkspaceId, tier: &str) -> Result<Vec<MemberId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM members WHERE workspace_id = $1 AND tier = $2 AND erased_at IS NULL ORDER BY id")
        .bind(ws)
        .bind(tier)
        .fetch_all(conn)
        .await
}

/// Members of a tier.
pub async fn count_in_tier(conn: &mut PgConnection, ws: WorkspaceId, tier: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM members WHERE workspace_id = $1 AND tier = $2")
        .bind(ws)
        .bind(tier)
        .fetch_one(conn)
        .await
}

/// Of `ids`, the members who are neither staff nor bots.
pub async fn people(conn: &mut PgConnection, ws: WorkspaceId, ids: &[MemberId]) -> Result<Vec<MemberId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM members WHERE workspace_id = $1 AND id = ANY($2) AND NOT is_staff AND NOT is_bot",
    )
    .bind(ws)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Erases personal data, keeping the anonymous row and its history.
pub async fn erase(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MemberId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE members SET display_name = '', phone = NULL, email = NULL, attributes = '{}', erased_at = $3, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    replace_identities(conn, ws, id, &[]).await?;
    tags::replace(conn, ws, Owner::Member(id.0), &[]).await?;
    Ok(())
}

/// A member named by a platform identity, to find or create.
#[derive(Debug, Clone)]
pub struct IdentityRef {
    pub platform: Platform,
    pub external_id: String,
    pub name: Option<String>,
    /// Created as a bot.
    pub is_bot: bool,
    /// First seen (for a member created now).
    pub seen_at: DateTime<Utc>,
}

/// Member ids for identities, creating members for unknown ones; known ones
/// come from this instance's cache while the workspace's identity epoch is
/// unchanged (one primary-key read instead of a probe per identity). Safe
/// against concurrent batches: the identity is claimed first (its foreign
/// key is checked at commit), and only the claims that won create members.
///
/// How the identity cache (platform identity → member id, one per process,
/// `crate::platform::IdCaches::members`) stays true: identities are removed
/// or moved between members (erasure, a member's identities replaced), and
/// every such statement bumps the workspace's identity epoch (a trigger), so
/// an entry is served only while the epoch read at the start of a batch
/// equals its own — on every instance. A batch racing a removal resolves as
/// if it had run just before it, as it could without the cache (its lookup
/// may precede the removal's commit).
pub async fn ensure_by_identity(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    refs: &[IdentityRef],
    cache: &PlatformIds,
) -> Result<std::collections::HashMap<(Platform, String), Uuid>, sqlx::Error> {
    if refs.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    // Read before anything is looked up: what is cached under this epoch
    // reflects every removal committed before it (see the function's doc).
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM identity_epochs WHERE workspace_id = $1")
        .bind(ws)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let mut found = cache.get(ws, epoch, refs.iter().map(|r| (r.platform, r.external_id.as_str())));
    let unknown: Vec<IdentityRef> =
        refs.iter().filter(|r| !found.contains_key(&(r.platform, r.external_id.clone()))).cloned().collect();
    if !unknown.is_empty() {
        found.extend(lookup_identities(conn, ws, &unknown, epoch, cache).await?);
    }
    let mut missing: Vec<&IdentityRef> =
        refs.iter().filter(|r| !found.contains_key(&(r.platform, r.external_id.clone()))).collect();
    if missing.is_empty() {
        return Ok(found);
    }
    // One key order for every transaction, so concurrent claims cannot deadlock.
    missing.sort_by(|a, b| (a.platform.as_str(), &a.external_id).cmp(&(b.platform.as_str(), &b.external_id)));
    missing.dedup_by(|a, b| a.platform == b.platform && a.external_id == b.external_id);
    let ids: Vec<Uuid> = missing.iter().map(|_| Uuid::now_v7()).collect();
    let platforms: Vec<Platform> = missing.iter().map(|r| r.platform).collect();
    let externals: Vec<&str> = missing.iter().map(|r| r.external_id.as_str()).collect();
    sqlx::query("SET CONSTRAINTS member_identities_member_fkey DEFERRED").execute(&mut *conn).await?;
    let claimed: Vec<(Platform, String, Uuid)> = sqlx::query_as(
        "INSERT INTO member_identities (workspace_id, platform, external_id, member_id)
         SELECT $1, u.p, u.e, u.id FROM unnest($2::text[], $3::text[], $4::uuid[]) AS u(p, e, id)
         ON CONFLICT DO NOTHING RETURNING platform, external_id, member_id",
    )
    .bind(ws)
    .bind(&platforms)
    .bind(&externals)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let by_key: std::collections::HashMap<(Platform, &str), &IdentityRef> =
        missing.iter().map(|r| ((r.platform, r.external_id.as_str()), *r)).collect();
    let (mut new_ids, mut names, mut seen, mut bots) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (p, e, id) in &claimed {
        if let Some(r) = by_key.get(&(*p, e.as_str())) {
            new_ids.push(*id);
            names.push(r.name.clone().unwrap_or_default());
            seen.push(r.seen_at);
            bots.push(r.is_bot);
        }
    }
    sqlx::query(
        "INSERT INTO members (workspace_id, id, display_name, first_seen_at, is_bot)
         SELECT $1, u.id, u.name, u.seen, u.bot
         FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::bool[]) AS u(id, name, seen, bot)",
    )
    .bind(ws)
    .bind(&new_ids)
    .bind(&names)
    .bind(&seen)
    .bind(&bots)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SET CONSTRAINTS member_identities_member_fkey IMMEDIATE").execute(&mut *conn).await?;
    let lost = missing.len() - claimed.len();
    found.extend(claimed.into_iter().map(|(p, e, id)| ((p, e), id)));
    if lost > 0 {
        // Another batch claimed some first: use theirs.
        let owned: Vec<IdentityRef> = missing.into_iter().cloned().collect();
        found.extend(lookup_identities(conn, ws, &owned, epoch, cache).await?);
    }
    Ok(found)
}

/// One index probe per reference (LATERAL … LIMIT 1 keeps the plan a nested
/// loop whatever statistics a cached generic plan was made with). Caches,
/// under `epoch`, the identities known to be committed: those whose inserting
/// transaction is older than every transaction still running when this
/// statement's snapshot was taken (never one of this transaction's own, which
/// may still roll back).
async fn lookup_identities(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    refs: &[IdentityRef],
    epoch: i64,
    cache: &PlatformIds,
) -> Result<std::collections::HashMap<(Platform, String), Uuid>, sqlx::Error> {
    let platforms: Vec<Platform> = refs.iter().map(|r| r.platform).collect();
    let externals: Vec<&str> = refs.iter().map(|r| r.external_id.as_str()).collect();
    let rows: Vec<(Platform, String, Uuid, bool)> = sqlx::query_as(
        "SELECT u.p, u.e, i.member_id, age(i.xmin) > age(pg_snapshot_xmin(pg_current_snapshot())::xid)
         FROM unnest($2::text[], $3::text[]) AS u(p, e)
         CROSS JOIN LATERAL (SELECT member_id, xmin FROM member_identities
                             WHERE workspace_id = $1 AND platform = u.p AND external_id = u.e LIMIT 1) i",
    )
    .bind(ws)
    .bind(&platforms)
    .bind(&externals)
    .fetch_all(conn)
    .await?;
    cache.put(ws, epoch, rows.iter().filter(|r| r.3).map(|(p, e, id, _)| (*p, e.as_str(), *id)));
    Ok(rows.into_iter().map(|(p, e, id, _)| ((p, e), id)).collect())
}

/// Which of `ids` are members of the workspace.
/// Display names of members (erased members have an empty name).
pub async fn display_names(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[MemberId],
) -> Result<Vec<(MemberId, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, display_name FROM members WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

pub async fn existing(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[MemberId],
) -> Result<Vec<MemberId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM members WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// Locks these members' rows, in id order (so concurrent writers never wait
/// in a cycle): what serialises changes to one member's stints.
pub async fn lock_in_order(conn: &mut PgConnection, ws: WorkspaceId, ids: &[MemberId]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM members WHERE workspace_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE")
        .bind(ws)
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The activity types spelled out in the member query are the event
    /// model's default active set (SQL cannot take the Rust constant).
    #[test]
    fn the_member_query_uses_the_default_active_types() {
        let start = super::SELECT.find("e.type IN (").map(|i| i + "e.type IN (".len()).unwrap();
        let list = &super::SELECT[start..start + super::SELECT[start..].find(')').unwrap()];
        let types: Vec<&str> = list.split(',').map(|t| t.trim().trim_matches('\'')).collect();
        assert_eq!(types, crate::events::model::DEFAULT_ACTIVE_TYPES);
    }
}
