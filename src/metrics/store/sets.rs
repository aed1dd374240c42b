//! Member sets per local day: what reports compute on instead of one row
//! per member and day. The rollup worker numbers the members of a workspace
//! densely (`metric_member_index`) and keeps, per local day, the sorted
//! numbers of the members active (and of the senders, with their message
//! counts) for each group and for the whole workspace. A report reads one
//! row per day (or per group and day), turns the arrays into bitmaps and
//! counts with bit operations; staff, bots and a join-source scope are masks
//! applied here, per request, so changing a member's flags needs no rebuild.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::metrics::params::Ctx;
use crate::metrics::store::packed::{to_bits, unpack, unpack_counts, Bits, Mask};
use crate::metrics::store::repo;

/// The counted members' sets of one local day in the scope.
#[derive(Debug, Clone, Default)]
pub struct Day {
    pub active: Bits,
    /// `message_sent` events of counted members.
    pub messages: i64,
}

/// The mask of a request (from the workspace's member numbers).
pub async fn mask(conn: &mut PgConnection, c: &Ctx) -> Result<Mask, sqlx::Error> {
    let exclude = if c.include_staff {
        Bits::new()
    } else {
        // Kept in step with the members' flags by triggers; a number not filled
        // in yet is probed in the member index.
        let staff: Vec<Option<i32>> = sqlx::query_scalar(
            "SELECT COALESCE(e.idx, (SELECT i.idx FROM metric_member_index i
                                     WHERE i.workspace_id = e.workspace_id AND i.member_id = e.member_id))
             FROM metric_excluded e WHERE e.workspace_id = $1",
        )
        .bind(c.ws)
        .fetch_all(&mut *conn)
        .await?;
        to_bits(&staff.into_iter().flatten().collect::<Vec<_>>())
    };
    let only = match c.scope.source {
        None => None,
        Some(source) => {
            let named: Vec<i32> = sqlx::query_scalar(
                "SELECT DISTINCT i.idx FROM memberships s
                 JOIN metric_member_index i ON i.workspace_id = s.workspace_id AND i.member_id = s.member_id
                 WHERE s.workspace_id = $1 AND s.source = $2 AND ($3::uuid[] IS NULL OR s.group_id = ANY($3))",
            )
            .bind(c.ws)
            .bind(source)
            .bind(c.scope.groups.as_deref())
            .fetch_all(&mut *conn)
            .await?;
            Some(to_bits(&named))
        }
    };
    Ok(Mask::new(exclude, only))
}

/// The counted members' sets of each local day of `[lo, hi]` in the scope
/// (index 0 is `lo`), from the rollups: the workspace's rows, or the union
/// of the scope's groups' rows (`messages`: also count messages).
pub async fn days(
    conn: &mut PgConnection,
    c: &Ctx,
    mask: &Mask,
    lo: NaiveDate,
    hi: NaiveDate,
    messages: Messages,
) -> Result<Vec<Day>, sqlx::Error> {
    let senders = match messages {
        Messages::Count => "senders, sent",
        Messages::Skip => "''::bytea, ''::bytea",
    };
    type Row = (NaiveDate, Vec<u8>, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = match &c.scope.groups {
        None => {
            sqlx::query_as(&format!(
                "SELECT day, active, {senders} FROM metric_days WHERE workspace_id = $1 AND day BETWEEN $2 AND $3"
            ))
            .bind(c.ws)
            .bind(lo)
            .bind(hi)
            .fetch_all(conn)
            .await?
        }
        Some(groups) => {
            sqlx::query_as(&format!(
                "SELECT day, active, {senders} FROM metric_group_days
                     WHERE workspace_id = $1 AND day BETWEEN $2 AND $3 AND group_id = ANY($4)"
            ))
            .bind(c.ws)
            .bind(lo)
            .bind(hi)
            .bind(groups)
            .fetch_all(conn)
            .await?
        }
    };
    let n = (hi - lo).num_days().max(-1) + 1;
    let mut out = vec![Day::default(); n as usize];
    for (day, active, senders, sent) in rows {
        let Some(d) = usize::try_from((day - lo).num_days()).ok().and_then(|i| out.get_mut(i)) else { continue };
        d.active.union_with(&Bits::from_ones(unpack(&active)));
        d.messages +=
            unpack(&senders).zip(unpack_counts(&sent)).filter(|(s, _)| mask.keeps(*s)).map(|(_, n)| n).sum::<i64>();
    }
    for d in &mut out {
        mask.apply(&mut d.active);
    }
    Ok(out)
}

/// How a member maps to the numbers of a [`Span`]'s sets.
#[derive(Debug)]
pub enum Numbering {
    /// The workspace's member index (rollups).
    Index,
    /// Numbers given for this request (raw events in another timezone).
    Local(HashMap<Uuid, u32>),
}

impl Numbering {
    /// The number of a stint's member (stints of a local numbering carry their member id).
    pub fn of_stint(&self, s: &crate::metrics::store::stints::Stint) -> Option<u32> {
        match (self, s.member_id) {
            (Numbering::Index, _) => s.who.idx(),
            (Numbering::Local(map), Some(m)) => map.get(&m).copied(),
            (Numbering::Local(_), None) => None,
        }
    }
}

/// The counted members' sets of each local day of a span, and how to number a stint's member.
#[derive(Debug)]
pub struct Span {
    pub days: Vec<Day>,
    pub numbering: Numbering,
}

/// Whether a read of day sets counts messages too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Messages {
    Count,
    Skip,
}

/// The sets of local days `[lo, hi]` in the scope: from the day sets in the
/// workspace timezone, else from the raw events bucketed into `tz`'s days.
pub async fn span(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
    messages: Messages,
) -> Result<Span, sqlx::Error> {
    if c.rollup_days {
        let mask = mask(&mut *conn, c).await?;
        return Ok(Span { days: days(conn, c, &mask, lo, hi, messages).await?, numbering: Numbering::Index });
    }
    let n = ((hi - lo).num_days().max(-1) + 1) as usize;
    let mut out = vec![Day::default(); n];
    let mut map: HashMap<Uuid, u32> = HashMap::new();
    for (member, offsets) in repo::active_days(&mut *conn, c, lo, hi, None).await? {
        let next = map.len() as u32;
        let k = *map.entry(member).or_insert(next);
        for o in offsets {
            if let Some(d) = usize::try_from(o).ok().and_then(|i| out.get_mut(i)) {
                d.active.insert(k);
            }
        }
    }
    let counts = if messages == Messages::Count { repo::messages(conn, c, lo, hi).await? } else { Vec::new() };
    for (o, count) in counts {
        if let Some(d) = usize::try_from(o).ok().and_then(|i| out.get_mut(i)) {
            d.messages += count;
        }
    }
    Ok(Span { days: out, numbering: Numbering::Local(map) })
}

/// Counted members of the workspace whose first active day (any group) is
/// in `[lo, hi]`: member, that day, their number — from the member index.
pub async fn first_active_between(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(Uuid, NaiveDate, i32)>, sqlx::Error> {
    let mask = mask(&mut *conn, c).await?;
    let rows: Vec<(Uuid, NaiveDate, i32)> = sqlx::query_as(
        "SELECT member_id, first_active, idx FROM metric_member_index
         WHERE workspace_id = $1 AND first_active BETWEEN $2 AND $3",
    )
    .bind(c.ws)
    .bind(lo)
    .bind(hi)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter(|(_, _, k)| u32::try_from(*k).is_ok_and(|k| mask.keeps(k))).collect())
}

/// The workspace's lifecycle inputs over local days `[lo, hi]`: each day's
/// counted active members, and per member number the first active day when
/// it is `lo` or later (see [`crate::metrics::reports::cohorts::lifecycle_of_sets`]).
pub async fn lifecycle_sets(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<(Vec<Bits>, Vec<Option<NaiveDate>>), sqlx::Error> {
    if lo > hi {
        return Ok((Vec::new(), Vec::new()));
    }
    let span = span(&mut *conn, c, lo, hi, Messages::Skip).await?;
    let recent: Vec<(i32, NaiveDate)> = sqlx::query_as(
        "SELECT idx, first_active FROM metric_member_index WHERE workspace_id = $1 AND first_active >= $2",
    )
    .bind(c.ws)
    .bind(lo)
    .fetch_all(conn)
    .await?;
    let mut first: Vec<Option<NaiveDate>> = Vec::new();
    for (k, d) in recent {
        let Ok(k) = usize::try_from(k) else { continue };
        if k >= first.len() {
            first.resize(k + 1, None);
        }
        first[k] = Some(d);
    }
    Ok((span.days.into_iter().map(|d| d.active).collect(), first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let a = Bits::from_ones([1, 64, 200]);
        let b = Bits::from_ones([64, 3]);
        assert_eq!(a.len(), 3);
        assert!(a.contains(200) && !a.contains(199) && !a.contains(100_000));
        assert_eq!(Bits::union_of([&a, &b]).ones().collect::<Vec<_>>(), vec![1, 3, 64, 200]);
        let mut i = a.clone();
        i.intersect_with(&b);
        assert_eq!(i.ones().collect::<Vec<_>>(), vec![64]);
        let mut d = a.clone();
        d.difference_with(&b);
        assert_eq!(d.ones().collect::<Vec<_>>(), vec![1, 200]);
        assert!(Bits::new().is_empty() && !a.is_empty());
    }

    #[test]
    fn packed_lists_are_big_endian_int4() {
        let packed = [0, 0, 0, 1, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(unpack(&packed).collect::<Vec<_>>(), vec![1, 256, u32::MAX], "one item per entry");
        assert_eq!(unpack_counts(&packed).collect::<Vec<_>>(), vec![1, 256, -1]);
    }

    #[test]
    fn masks_exclude_staff_and_keep_only_the_source() {
        let m = Mask::new(Bits::from_ones([2]), Some(Bits::from_ones([1, 2, 3])));
        assert!(m.keeps(1) && !m.keeps(2) && !m.keeps(4));
        let mut s = Bits::from_ones([1, 2, 4, 500]);
        m.apply(&mut s);
        assert_eq!(s.ones().collect::<Vec<_>>(), vec![1]);
    }
}
