//! Membership stints as reports read them: from the packed per-group rows
//! the rollup worker keeps (`metric_group_stints`, layout in its migration),
//! or from `memberships` for the groups whose stints changed since their row
//! was packed (`metric_dirty_stints`, appended by the metrics subscriber in the
//! transaction that stored the join or leave) — so an answer always equals one over `memberships` in the
//! report's snapshot, packed or not. Reports reading day sets numbered
//! otherwise (another timezone) read `memberships` whole.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::metrics::params::Ctx;
use crate::metrics::store::packed::{be_i32, be_i64, Mask};
use crate::metrics::store::repo::GroupMembership;

/// Who a stint is: a member number (always, for packed rows), else the
/// member id (a member not numbered yet, read from `memberships`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    Idx(u32),
    Id(Uuid),
}

impl Who {
    pub fn idx(self) -> Option<u32> {
        match self {
            Who::Idx(k) => Some(k),
            Who::Id(_) => None,
        }
    }
}

/// A stint of a counted member (`[joined_at, left_at)`, never empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Stint {
    pub group_id: Uuid,
    pub who: Who,
    /// The member's id: known for stints read from `memberships`.
    pub member_id: Option<Uuid>,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// Bytes of one packed stint.
const PACKED: usize = 20;

/// Decodes a packed row, keeping stints the filter accepts (member number,
/// joined and left in microseconds, `i64::MAX` while open).
fn decode(group_id: Uuid, data: &[u8], mut keep: impl FnMut(u32, i64, i64) -> bool, out: &mut Vec<Stint>) {
    for c in data.chunks_exact(PACKED) {
        let idx = be_i32(c, 0) as u32; // numbers are never negative
        let (joined, left) = (be_i64(c, 4), be_i64(c, 12));
        if !keep(idx, joined, left) {
            continue;
        }
        let (Some(joined_at), left_at) = (DateTime::from_timestamp_micros(joined), (left != i64::MAX).then_some(left))
        else {
            continue;
        };
        out.push(Stint {
            group_id,
            who: Who::Idx(idx),
            member_id: None,
            joined_at,
            left_at: left_at.and_then(DateTime::from_timestamp_micros),
        });
    }
}

/// Microseconds since the epoch.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The stints of counted members (staff/bot and join-source rules of the
/// request) in the scope's groups overlapping `[lo, hi)` (None: unbounded).
/// `packed`: read the packed rows (reports numbering members by the member
/// index); otherwise every stint comes from `memberships` with its member id.
pub async fn read(
    conn: &mut PgConnection,
    c: &Ctx,
    mask: &Mask,
    lo: Option<DateTime<Utc>>,
    hi: Option<DateTime<Utc>>,
    packed: bool,
) -> Result<Vec<Stint>, sqlx::Error> {
    let groups = c.scope.groups.as_deref();
    let mut out = Vec::new();
    let live: Option<Vec<Uuid>> = if packed {
        let in_scope = if groups.is_some() { "AND group_id = ANY($2)" } else { "" };
        let dirty: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT group_id FROM metric_dirty_stints WHERE workspace_id = $1 {in_scope}"
        ))
        .bind(c.ws)
        .bind(groups)
        .fetch_all(&mut *conn)
        .await?;
        let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT group_id, data FROM metric_group_stints WHERE workspace_id = $1 {in_scope}"
        ))
        .bind(c.ws)
        .bind(groups)
        .fetch_all(&mut *conn)
        .await?;
        let skip: HashSet<Uuid> = dirty.iter().copied().collect();
        let (lo, hi) = (lo.map_or(i64::MIN, micros), hi.map_or(i64::MAX, micros));
        out.reserve(rows.iter().map(|(_, d)| d.len() / PACKED).sum());
        for (g, data) in rows.iter().filter(|(g, _)| !skip.contains(g)) {
            decode(*g, data, |k, joined, left| joined < hi && left > lo && mask.keeps(k), &mut out);
        }
        if dirty.is_empty() {
            return Ok(out);
        }
        Some(dirty)
    } else {
        None
    };
    // The rest from `memberships` (the dirty groups, or all of the scope).
    let (lo_sql, hi_sql) = (
        if lo.is_some() { "AND (s.left_at IS NULL OR s.left_at > $2)" } else { "" },
        if hi.is_some() { "AND s.joined_at < $3" } else { "" },
    );
    let sql = format!(
        "SELECT s.group_id, s.member_id, i.idx, s.joined_at, s.left_at FROM memberships s
         LEFT JOIN metric_member_index i ON i.workspace_id = s.workspace_id AND i.member_id = s.member_id
         WHERE s.workspace_id = $1 {lo_sql} {hi_sql} AND s.left_at IS DISTINCT FROM s.joined_at {}
           AND ($4::uuid[] IS NULL OR s.group_id = ANY($4)) AND {}",
        if live.is_some() { "AND s.group_id = ANY($7)" } else { "" },
        crate::metrics::store::repo::member_filter("s.member_id")
    );
    let sql = crate::metrics::store::repo::planned(&sql, c, groups.is_some());
    type Row = (Uuid, Uuid, Option<i32>, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(groups)
        .bind(c.include_staff)
        .bind(c.scope.source)
        .bind(live)
        .fetch_all(&mut *conn)
        .await?;
    out.extend(rows.into_iter().map(|(group_id, member_id, idx, joined_at, left_at)| Stint {
        group_id,
        who: idx.and_then(|k| u32::try_from(k).ok()).map_or(Who::Id(member_id), Who::Idx),
        member_id: Some(member_id),
        joined_at,
        left_at,
    }));
    Ok(out)
}

/// Per group, the membership figures of `[lo, hi)` from its stints
/// overlapping it (joiners judged `settle` after they joined), for the
/// health report in every timezone (see `docs/metrics.md`, group health).
pub fn membership(
    stints: &[Stint],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    settle: chrono::Duration,
) -> Vec<GroupMembership> {
    let mut by_group: HashMap<Uuid, (GroupMembership, HashSet<Who>)> = HashMap::new();
    let open = |l: Option<DateTime<Utc>>, at: DateTime<Utc>| l.is_none_or(|l| l >= at);
    for s in stints {
        if s.joined_at >= hi || s.left_at.is_some_and(|l| l <= lo) {
            continue;
        }
        let (m, who) = by_group
            .entry(s.group_id)
            .or_insert_with(|| (GroupMembership { group_id: s.group_id, ..Default::default() }, HashSet::new()));
        who.insert(s.who);
        let count = |b: bool| i64::from(b);
        m.members_start += count(s.joined_at < lo && open(s.left_at, lo));
        m.members_end += count(s.joined_at < hi && open(s.left_at, hi));
        m.joins += count(s.joined_at >= lo);
        m.leaves += count(s.left_at.is_some_and(|l| l >= lo && l < hi));
        let settled = s.joined_at >= lo && s.joined_at <= hi - settle;
        m.joiners_settled += count(settled);
        m.joiners_stayed += count(settled && open(s.left_at, s.joined_at + settle));
    }
    by_group
        .into_values()
        .map(|(mut m, who)| {
            m.members = who.len() as i64;
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(idx: u32, joined: i64, left: i64) -> Vec<u8> {
        let mut v = idx.to_be_bytes().to_vec();
        v.extend(joined.to_be_bytes());
        v.extend(left.to_be_bytes());
        v
    }

    #[test]
    fn decode_reads_open_and_closed_stints_and_applies_the_filter() {
        let g = Uuid::from_u128(9);
        let mut data = pack(3, 1_000_000, 2_000_000);
        data.extend(pack(7, 5_000_000, i64::MAX));
        data.extend(pack(8, 1, 2));
        let mut out = Vec::new();
        decode(g, &data, |k, _, _| k != 8, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].who, Who::Idx(3));
        assert_eq!(out[0].joined_at.timestamp(), 1);
        assert_eq!(out[0].left_at.map(|t| t.timestamp()), Some(2));
        assert_eq!(out[1].who, Who::Idx(7));
        assert_eq!(out[1].left_at, None);
        assert!(out.iter().all(|s| s.group_id == g && s.member_id.is_none()));
    }

    #[test]
    fn membership_counts_distinct_members_and_seats_at_the_edges() {
        let g = Uuid::from_u128(1);
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let st = |k: u32, a: i64, b: Option<i64>| Stint {
            group_id: g,
            who: Who::Idx(k),
            member_id: None,
            joined_at: t(a),
            left_at: b.map(t),
        };
        let (lo, hi) = (t(100), t(200));
        let stints = vec![
            st(1, 0, None),        // seated throughout
            st(2, 50, Some(100)),  // left exactly at lo: outside
            st(3, 120, Some(130)), // joined and left inside
            st(3, 150, None),      // re-joined: one member, two joins
            st(4, 200, None),      // joined exactly at hi: outside
            st(5, 110, Some(200)), // left exactly at hi: still holds the seat at the end (left_at ≥ end)
        ];
        let m = membership(&stints, lo, hi, chrono::Duration::seconds(40));
        assert_eq!(m.len(), 1);
        let m = &m[0];
        assert_eq!((m.members, m.members_start, m.members_end), (3, 1, 3));
        // Leaves in [lo, hi): only 130 (100 is outside the window's stints, 200 is hi).
        assert_eq!((m.joins, m.leaves), (3, 1));
        // Settled: joined in [100, 160]: 120, 150, 110; stayed 40 s: 150 (open), 110 (left at 200).
        assert_eq!((m.joiners_settled, m.joiners_stayed), (3, 2));
    }
}
