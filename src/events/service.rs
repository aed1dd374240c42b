//! Ingestion: validated events in, per-item results out, in one transaction.
//!
//! Steps: resolve members and groups (by id, or by platform id — creating
//! unknown ones), inviters and campaigns; drop in-batch duplicates; claim
//! orders for `order_paid` (one payment per order); store the rest (the
//! primary key drops redeliveries) and stop: what follows from the newly
//! stored events (membership stints, metric queues, …) is done by the
//! subscribers of [`super::reactions`], in the same transaction. Members'
//! first-seen and last-active times are derived from the events when read,
//! so ingestion never updates member rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{EventKind, ItemResult, ItemStatus, NewEvent, Ref};
use super::reactions;
use super::repo::{self, Row};
use super::Ingestion;
use crate::ids::{GroupId, MemberId, WorkspaceId};
use crate::members::repo::IdentityRef;
use crate::platform::{IdCaches, Platform};

type Key = (Platform, String);

/// What the batch's references resolve to.
#[derive(Default)]
struct Resolved {
    members: HashMap<Key, Uuid>,
    groups: HashMap<Key, Uuid>,
    known_members: HashSet<Uuid>,
    known_groups: HashSet<Uuid>,
    known_campaigns: HashSet<Uuid>,
    campaign_codes: HashMap<String, Uuid>,
}

fn rejected(index: usize, reason: String) -> ItemResult {
    ItemResult { index, status: ItemStatus::Rejected, event_id: None, reason: Some(reason) }
}

fn done(index: usize, status: ItemStatus, id: Uuid) -> ItemResult {
    ItemResult { index, status, event_id: Some(id), reason: None }
}

async fn resolve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    events: &[(usize, NewEvent)],
    ids: &IdCaches,
    now: DateTime<Utc>,
) -> Result<Resolved, sqlx::Error> {
    let mut member_refs: HashMap<Key, IdentityRef> = HashMap::new();
    let mut group_refs: HashMap<Key, Option<String>> = HashMap::new();
    let (mut member_ids, mut group_ids, mut campaign_ids, mut codes) = (vec![], vec![], vec![], vec![]);
    for (_, e) in events {
        for r in [&e.member, &e.inviter].into_iter().flatten() {
            match r {
                Ref::Id(id) => member_ids.push(*id),
                Ref::External(p) => {
                    let entry = member_refs.entry((p.platform, p.external_id.clone())).or_insert_with(|| IdentityRef {
                        platform: p.platform,
                        external_id: p.external_id.clone(),
                        name: p.name.clone(),
                        is_bot: p.is_bot,
                        seen_at: e.occurred_at,
                    });
                    entry.seen_at = entry.seen_at.min(e.occurred_at);
                }
            }
        }
        match &e.group {
            Some(Ref::Id(id)) => group_ids.push(*id),
            Some(Ref::External(p)) => {
                group_refs.entry((p.platform, p.external_id.clone())).or_insert_with(|| p.name.clone());
            }
            None => {}
        }
        campaign_ids.extend(e.campaign_id);
        codes.extend(e.campaign_code.clone());
    }
    let refs: Vec<IdentityRef> = member_refs.into_values().collect();
    let groups: Vec<(Platform, String, Option<String>)> = group_refs.into_iter().map(|((p, e), n)| (p, e, n)).collect();
    let (known_campaigns, campaign_codes) = if campaign_ids.is_empty() && codes.is_empty() {
        (Vec::new(), HashMap::new())
    } else {
        crate::campaigns::repo::resolve(conn, ws, &campaign_ids, &codes).await?
    };
    let groups = crate::groups::repo::ensure_by_external(conn, ws, &groups, &ids.groups, now).await?;
    Ok(Resolved {
        members: crate::members::repo::ensure_by_identity(conn, ws, &refs, &ids.members).await?,
        groups,
        known_members: if member_ids.is_empty() {
            HashSet::new()
        } else {
            let ids: Vec<MemberId> = member_ids.into_iter().map(MemberId).collect();
            crate::members::repo::existing(conn, ws, &ids).await?.into_iter().map(|m| m.0).collect()
        },
        known_groups: existing_groups(conn, ws, &group_ids).await?,
        known_campaigns: known_campaigns.into_iter().collect(),
        campaign_codes,
    })
}

async fn existing_groups(conn: &mut PgConnection, ws: WorkspaceId, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let typed: Vec<GroupId> = ids.iter().copied().map(GroupId).collect();
    let missing: HashSet<GroupId> = crate::groups::repo::missing(conn, ws, &typed).await?.into_iter().collect();
    Ok(typed.into_iter().filter(|g| !missing.contains(g)).map(|g| g.0).collect())
}

fn member_of(r: &Resolved, x: &Option<Ref>, what: &str) -> Result<Option<Uuid>, String> {
    match x {
        None => Ok(None),
        Some(Ref::Id(id)) if r.known_members.contains(id) => Ok(Some(*id)),
        Some(Ref::Id(_)) => Err(format!("unknown {what}_id")),
        Some(Ref::External(p)) => r
            .members
            .get(&(p.platform, p.external_id.clone()))
            .copied()
            .map(Some)
            .ok_or_else(|| format!("{what} could not be created")),
    }
}

fn to_row(r: &Resolved, e: NewEvent) -> Result<Row, String> {
    let member_id = member_of(r, &e.member, "member")?;
    let inviter = member_of(r, &e.inviter, "inviter")?;
    let group_id = match &e.group {
        None => None,
        Some(Ref::Id(id)) if r.known_groups.contains(id) => Some(*id),
        Some(Ref::Id(_)) => return Err("unknown group_id".into()),
        Some(Ref::External(p)) => {
            Some(r.groups.get(&(p.platform, p.external_id.clone())).copied().ok_or("group could not be created")?)
        }
    };
    let campaign_id = match (e.campaign_id, &e.campaign_code) {
        (Some(id), _) if r.known_campaigns.contains(&id) => Some(id),
        (Some(_), _) => return Err("unknown campaign_id".into()),
        (None, Some(code)) => r.campaign_codes.get(code).copied(),
        (None, None) => None,
    };
    let mut properties = e.properties;
    if let Some(obj) = properties.as_object_mut() {
        if let Some(s) = e.join_source {
            obj.insert("join_source".into(), serde_json::to_value(s).unwrap_or_default());
        }
        if let Some(i) = inviter {
            obj.insert("inviter_id".into(), i.to_string().into());
        }
        for (k, v) in [("invite_code", e.invite_code), ("leave_reason", e.leave_reason)] {
            if let Some(v) = v {
                obj.insert(k.into(), v.into());
            }
        }
    }
    Ok(Row {
        id: e.id,
        kind: e.kind,
        occurred_at: e.occurred_at,
        group_id,
        member_id,
        campaign_id,
        campaign_code: e.campaign_code,
        order_id: e.order_id,
        amount: e.amount,
        currency: e.currency,
        properties,
        source: e.source,
        text: e.text,
    })
}

/// Ingests a batch (item `i` of `items` is the request's item `i`).
pub async fn ingest(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    items: Vec<Result<NewEvent, String>>,
    now: DateTime<Utc>,
    ctx: &Ingestion,
) -> Result<Vec<ItemResult>, sqlx::Error> {
    let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
    let mut valid = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item.and_then(|e| e.check_nul().map(|()| e)) {
            Ok(e) => valid.push((i, e)),
            Err(reason) => results[i] = Some(rejected(i, reason)),
        }
    }
    let resolved = resolve(conn, ws, &valid, &ctx.ids, now).await?;
    let mut rows: Vec<(usize, Row)> = Vec::new();
    let mut seen: HashSet<(Uuid, DateTime<Utc>)> = HashSet::new();
    for (i, e) in valid {
        match to_row(&resolved, e) {
            Err(reason) => results[i] = Some(rejected(i, reason)),
            Ok(row) if !seen.insert((row.id, row.occurred_at)) => {
                results[i] = Some(done(i, ItemStatus::Duplicate, row.id))
            }
            Ok(row) => rows.push((i, row)),
        }
    }
    let rows = drop_paid_orders(conn, ws, rows, &mut results).await?;
    let plain: Vec<Row> = rows.iter().map(|(_, r)| r.clone()).collect();
    let inserted = reactions::store(conn, ws, &plain, now, &ctx.reactions).await?;
    for (i, row) in rows {
        let new = inserted.contains(&(row.id, row.occurred_at));
        results[i] = Some(done(i, if new { ItemStatus::Accepted } else { ItemStatus::Duplicate }, row.id));
    }
    Ok(results.into_iter().enumerate().map(|(i, r)| r.unwrap_or_else(|| rejected(i, "not processed".into()))).collect())
}

/// `order_paid` events for orders already paid (by another event) become duplicates.
async fn drop_paid_orders(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: Vec<(usize, Row)>,
    results: &mut [Option<ItemResult>],
) -> Result<Vec<(usize, Row)>, sqlx::Error> {
    let mut first_payment: HashMap<String, Uuid> = HashMap::new();
    let mut kept = Vec::with_capacity(rows.len());
    for (i, row) in rows {
        if let (true, Some(order)) = (EventKind::OrderPaid.is(&row.kind), &row.order_id) {
            if let Some(owner) = first_payment.get(order) {
                if *owner != row.id {
                    results[i] = Some(done(i, ItemStatus::Duplicate, *owner));
                    continue;
                }
            }
            first_payment.insert(order.clone(), row.id);
        }
        kept.push((i, row));
    }
    let claims: Vec<(String, Uuid, DateTime<Utc>)> = kept
        .iter()
        .filter(|(_, r)| EventKind::OrderPaid.is(&r.kind))
        .filter_map(|(_, r)| r.order_id.clone().map(|o| (o, r.id, r.occurred_at)))
        .collect();
    let paid_by_others = repo::claim_payments(conn, ws, &claims).await?;
    Ok(kept
        .into_iter()
        .filter_map(|(i, row)| {
            let owner = EventKind::OrderPaid
                .is(&row.kind)
                .then(|| row.order_id.as_ref().and_then(|o| paid_by_others.get(o)))
                .flatten();
            match owner {
                Some(owner) => {
                    results[i] = Some(done(i, ItemStatus::Duplicate, *owner));
                    None
                }
                None => Some((i, row)),
            }
        })
        .collect())
}

/// Ingests a batch in its own transaction, retrying it (up to 3 times in
/// all) on a deadlock or serialization failure. Returns once committed.
pub async fn ingest_committed(
    pool: &sqlx::PgPool,
    ws: WorkspaceId,
    items: Vec<Result<NewEvent, String>>,
    now: DateTime<Utc>,
    ctx: &Ingestion,
) -> Result<Vec<ItemResult>, sqlx::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = crate::db::begin(pool).await?;
        match ingest(&mut tx, ws, items.clone(), now, ctx).await {
            Ok(results) => {
                tx.commit().await?;
                return Ok(results);
            }
            Err(e) if attempt < 3 && crate::db::is_retryable(&e) => {
                tracing::warn!(attempt, "ingest transaction aborted by the database; retrying");
                drop(tx);
            }
            Err(e) => return Err(e),
        }
    }
}
