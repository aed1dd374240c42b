//! Per-group figures from the per-day member sets (see `sets`): the
//! activity half of group health and the activation of new joiners, from
//! one row per group and day instead of one per member, group and day.
//! Same definitions as the SQL over member-day rows in `repo`, which still
//! serves another timezone than the workspace's.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::metrics::params::Ctx;
use crate::metrics::period::local_day;
use crate::metrics::store::packed::{unpack, unpack_counts, Mask};
use crate::metrics::store::repo::GroupActivity;

/// One group's counted members on one local day.
#[derive(Debug, Clone, Default)]
pub struct GroupDay {
    /// Active members, ascending.
    pub active: Vec<u32>,
    /// Senders and their messages.
    pub sent: Vec<(u32, i64)>,
}

/// Per group, its days from `lo` (index 0) to `hi`.
pub struct GroupDays {
    pub lo: NaiveDate,
    pub groups: HashMap<Uuid, Vec<GroupDay>>,
}

impl GroupDays {
    /// The days of `before` followed by those of `after` (which must start
    /// the day after `before` ends, `before_days` days after its start).
    pub fn concat(before: GroupDays, before_days: usize, after: GroupDays) -> GroupDays {
        let after_days = after.groups.values().map(Vec::len).max().unwrap_or(0);
        let mut groups = before.groups;
        for days in groups.values_mut() {
            days.resize(before_days, GroupDay::default());
        }
        for (g, days) in after.groups {
            let e = groups.entry(g).or_insert_with(|| vec![GroupDay::default(); before_days]);
            e.extend(days);
        }
        for days in groups.values_mut() {
            days.resize(before_days + after_days, GroupDay::default());
        }
        GroupDays { lo: before.lo, groups }
    }

    fn day(&self, g: &Uuid, day: NaiveDate) -> Option<&GroupDay> {
        let i = usize::try_from((day - self.lo).num_days()).ok()?;
        self.groups.get(g)?.get(i)
    }
}

/// The scope's groups' sets of local days `[lo, hi]`, counted members
/// only; senders from `senders_from` on (earlier days' are left empty).
pub async fn read(
    conn: &mut PgConnection,
    c: &Ctx,
    mask: &Mask,
    lo: NaiveDate,
    senders_from: NaiveDate,
    hi: NaiveDate,
) -> Result<GroupDays, sqlx::Error> {
    let n = ((hi - lo).num_days().max(-1) + 1) as usize;
    let mut groups: HashMap<Uuid, Vec<GroupDay>> = HashMap::new();
    let mut put = |g: Uuid, day: NaiveDate, active: &[u8], senders: &[u8], sent: &[u8]| {
        let days = groups.entry(g).or_insert_with(|| vec![GroupDay::default(); n]);
        let Some(d) = usize::try_from((day - lo).num_days()).ok().and_then(|i| days.get_mut(i)) else { return };
        d.active = unpack(active).filter(|k| mask.keeps(*k)).collect();
        if day >= senders_from {
            d.sent = unpack(senders).zip(unpack_counts(sent)).filter(|(s, _)| mask.keeps(*s)).collect();
        }
    };
    let Some(scope) = c.scope.groups.as_deref() else {
        // Every group: each day's groups in one row of the workspace's.
        let rows: Vec<(NaiveDate, Vec<u8>)> =
            sqlx::query_as("SELECT day, groups FROM metric_days WHERE workspace_id = $1 AND day BETWEEN $2 AND $3")
                .bind(c.ws)
                .bind(lo)
                .bind(hi)
                .fetch_all(conn)
                .await?;
        for (day, packed) in rows {
            for (g, active, senders, sent) in split_groups(&packed) {
                put(g, day, active, senders, sent);
            }
        }
        return Ok(GroupDays { lo, groups });
    };
    type Row = (Uuid, NaiveDate, Vec<u8>, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT group_id, day, active,
                CASE WHEN day >= $5 THEN senders ELSE ''::bytea END, CASE WHEN day >= $5 THEN sent ELSE ''::bytea END
         FROM metric_group_days
         WHERE workspace_id = $1 AND day BETWEEN $2 AND $3 AND group_id = ANY($4)",
    )
    .bind(c.ws)
    .bind(lo)
    .bind(hi)
    .bind(scope)
    .bind(senders_from)
    .fetch_all(conn)
    .await?;
    for (g, day, active, senders, sent) in rows {
        put(g, day, &active, &senders, &sent);
    }
    Ok(GroupDays { lo, groups })
}

/// The groups of a `metric_days.groups` value (layout in its migration):
/// group, active, senders, sent. Stops at a truncated record.
fn split_groups(packed: &[u8]) -> impl Iterator<Item = (Uuid, &[u8], &[u8], &[u8])> {
    let mut rest = packed;
    std::iter::from_fn(move || {
        let (g, tail) = rest.split_first_chunk::<16>()?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        let (active, tail) = tail.split_at_checked(u32::from_be_bytes(*len) as usize)?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        let (senders, tail) = tail.split_at_checked(len)?;
        let (sent, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some((Uuid::from_bytes(*g), active, senders, sent))
    })
}

/// Per group with a counted member's message in `[from, hi]`: the last such day.
pub fn last_message_days(days: &GroupDays, from: NaiveDate) -> HashMap<Uuid, NaiveDate> {
    let split = usize::try_from((from - days.lo).num_days()).unwrap_or(0);
    days.groups
        .iter()
        .filter_map(|(g, d)| {
            let last = d.iter().enumerate().skip(split).rfind(|(_, x)| x.sent.iter().any(|(_, n)| *n > 0))?;
            Some((*g, days.lo + chrono::Duration::days(last.0 as i64)))
        })
        .collect()
}

/// Per group: activity of `[from, hi]` and active members of `[lo, from)`
/// (as `repo::group_activity`).
pub fn activity(days: &GroupDays, from: NaiveDate) -> Vec<GroupActivity> {
    let split = usize::try_from((from - days.lo).num_days()).unwrap_or(0);
    let mut out = Vec::with_capacity(days.groups.len());
    // Scratch indexed by member number, shared by the groups (grown as
    // numbers come): the last (group, part) that saw a member, and each
    // sender's messages in the current group (with the senders touched, to
    // read and reset them).
    let mut seen: Vec<u32> = Vec::new();
    let mut sent: Vec<i64> = Vec::new();
    let mut stamp = 0u32;
    let mut distinct = |seen: &mut Vec<u32>, days: &[GroupDay]| -> i64 {
        stamp += 1;
        let mut n = 0;
        for k in days.iter().flat_map(|d| &d.active) {
            let k = *k as usize;
            if k >= seen.len() {
                seen.resize(k + 1, 0);
            }
            let slot = &mut seen[k];
            if *slot != stamp {
                *slot = stamp;
                n += 1;
            }
        }
        n
    };
    let mut senders: Vec<u32> = Vec::new();
    for (g, group_days) in &days.groups {
        let (before, window) = group_days.split_at(split.min(group_days.len()));
        let mut a = GroupActivity { group_id: *g, ..GroupActivity::default() };
        a.active_before = distinct(&mut seen, before);
        a.active_members = distinct(&mut seen, window);
        senders.clear();
        for d in window {
            a.active_member_days += d.active.len() as i64;
            if d.sent.iter().any(|(_, n)| *n > 0) {
                a.message_days += 1;
            }
            // Counts are positive; a zero adds nothing (and would not mark the slot).
            for (s, n) in d.sent.iter().filter(|(_, n)| *n > 0) {
                if *s as usize >= sent.len() {
                    sent.resize(*s as usize + 1, 0);
                }
                let slot = &mut sent[*s as usize];
                if *slot == 0 {
                    senders.push(*s);
                }
                *slot += n;
                a.messages += n;
            }
        }
        let mut counts: Vec<i64> = senders.iter().map(|s| std::mem::take(&mut sent[*s as usize])).collect();
        a.senders = counts.len() as i64;
        counts.sort_unstable_by(|x, y| y.cmp(x));
        a.top_messages = counts.iter().take(counts.len().div_ceil(10)).sum();
        out.push(a);
    }
    out
}

/// A stint begun in the window: its group, its member's number, when.
pub type Join = (Uuid, Option<i32>, DateTime<Utc>);

/// Per group: the joins, and how many of them were active in the group on
/// one of the `settle` local days from their join day (days after `hi` not
/// counted, as `repo::group_activation`).
pub fn activation(
    days: &GroupDays,
    tz: chrono_tz::Tz,
    joins: &[Join],
    hi: NaiveDate,
    settle: i64,
) -> HashMap<Uuid, (i64, i64)> {
    let mut out: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for (g, idx, at) in joins {
        let e = out.entry(*g).or_default();
        e.0 += 1;
        let Some(k) = idx.and_then(|i| u32::try_from(i).ok()) else { continue };
        let first = local_day(tz, *at);
        let active = first
            .iter_days()
            .take(settle as usize)
            .take_while(|d| *d <= hi)
            .any(|d| days.day(g, d).is_some_and(|x| x.active.binary_search(&k).is_ok()));
        if active {
            e.1 += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_groups_reads_each_record_and_stops_at_a_truncated_one() {
        let rec = |g: u128, active: &[u32], sent: &[(u32, i32)]| {
            let mut v = Uuid::from_u128(g).as_bytes().to_vec();
            v.extend((active.len() as u32 * 4).to_be_bytes());
            v.extend(active.iter().flat_map(|k| k.to_be_bytes()));
            v.extend((sent.len() as u32 * 4).to_be_bytes());
            v.extend(sent.iter().flat_map(|(k, _)| k.to_be_bytes()));
            v.extend(sent.iter().flat_map(|(_, n)| n.to_be_bytes()));
            v
        };
        let mut packed = rec(1, &[2, 5], &[(5, 3)]);
        packed.extend(rec(2, &[], &[]));
        let whole = packed.len();
        packed.extend(rec(3, &[7], &[(7, 1)]));
        let got: Vec<_> = split_groups(&packed)
            .map(|(g, a, s, n)| (g, unpack(a).collect::<Vec<_>>(), unpack(s).zip(unpack_counts(n)).collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Uuid::from_u128(1), vec![2, 5], vec![(5, 3)]),
                (Uuid::from_u128(2), vec![], vec![]),
                (Uuid::from_u128(3), vec![7], vec![(7, 1)]),
            ]
        );
        assert_eq!(split_groups(&packed[..whole + 10]).count(), 2);
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn activity_splits_the_window_and_counts_the_top_tenth_of_senders() {
        let g = Uuid::from_u128(7);
        let day = |active: Vec<u32>, sent: Vec<(u32, i64)>| GroupDay { active, sent };
        let days = GroupDays {
            lo: d("2026-10-01"),
            groups: HashMap::from([(
                g,
                vec![
                    day(vec![1, 2], vec![]),
                    day(vec![1, 3], vec![(1, 5), (3, 1)]),
                    day(vec![], vec![]),
                    day(vec![3], vec![(3, 2)]),
                ],
            )]),
        };
        let a = &activity(&days, d("2026-10-02"))[0];
        assert_eq!((a.active_before, a.active_members, a.active_member_days), (2, 2, 3));
        assert_eq!((a.messages, a.senders, a.top_messages, a.message_days), (8, 2, 5, 2));
        assert_eq!(last_message_days(&days, d("2026-10-02"))[&g], d("2026-10-04"));
        assert!(last_message_days(&days, d("2026-10-05")).is_empty(), "none in the window: searched by the caller");
        let tz = chrono_tz::UTC;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let joins = vec![
            (g, Some(3), at("2026-09-30T12:00:00Z")),
            (g, Some(2), at("2026-10-02T00:00:00Z")),
            (g, None, at("2026-10-02T01:00:00Z")),
        ];
        // Member 3 (joined 09-30) is next active on 10-02: inside 3 settling days, not 2.
        assert_eq!(activation(&days, tz, &joins[..1], d("2026-10-04"), 3)[&g], (1, 1));
        assert_eq!(activation(&days, tz, &joins[..1], d("2026-10-04"), 2)[&g], (1, 0));
        assert_eq!(activation(&days, tz, &joins, d("2026-10-04"), 7)[&g], (3, 1));
    }
}
