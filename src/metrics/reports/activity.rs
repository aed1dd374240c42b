//! Activity: DAU / WAU / MAU, messages, active rate and stickiness per local
//! day. The arithmetic here is pure: it takes each member's active days and
//! belonging days (see `repo`) and is unit-tested on its own; the API tests
//! compare its answers with a computation over the raw events.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::store::packed::Bits;

/// Days before `from` a trailing window reaches back (MAU: d-29..d).
pub const LEAD: usize = 29;

/// One day of the activity report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActivityDay {
    #[schema(value_type = String, example = "2026-10-01")]
    pub date: NaiveDate,
    /// Members active on the day.
    pub dau: Option<i64>,
    /// Members active on at least one of the days d-6..d.
    pub wau: Option<i64>,
    /// Members active on at least one of the days d-29..d.
    pub mau: Option<i64>,
    /// `message_sent` events of counted members.
    pub messages: Option<i64>,
    /// Members who belonged to a group of the scope at any time of the day.
    pub members: Option<i64>,
    /// Of those, the ones active on the day (in the scope).
    pub active_members: Option<i64>,
    /// `active_members / members` (null when no one belonged).
    pub active_rate: Option<f64>,
    /// The day is today or later: figures are partial (today) or null (future).
    pub incomplete: bool,
}

/// How many members were active on exactly `active_days` complete days.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActiveDaysBucket {
    pub active_days: i64,
    pub members: i64,
}

/// What [`compute`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub days: Vec<ActivityDay>,
    pub stickiness: Option<f64>,
    pub distribution: Vec<ActiveDaysBucket>,
    /// Distinct members active on some complete day of the period.
    pub active_members: i64,
}

/// Who belonged on each day of the period: the members with a number in the
/// active sets, as a set per day, and how many without one (never active).
#[derive(Debug, Clone, Default)]
pub struct Belonged {
    pub numbered: Vec<Bits>,
    pub unnumbered: Vec<i64>,
}

/// Inputs of [`compute`]: member sets per day from `from - LEAD`; who
/// belonged on each day of the period.
pub struct Input<'a> {
    pub from: NaiveDate,
    pub days: usize,
    pub today: NaiveDate,
    pub active: &'a [Bits],
    pub belonged: &'a Belonged,
    pub messages: &'a [i64],
}

/// Merges inclusive ranges.
pub(crate) fn merge(mut ranges: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    ranges.sort_unstable();
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The report's arithmetic (see `docs/metrics.md`, "activity").
pub fn compute(inp: &Input) -> Computed {
    let n = inp.days;
    let empty = Bits::new();
    let at = |x: usize| inp.active.get(x).unwrap_or(&empty);
    let window = |i: usize, width: usize| Bits::union_of((LEAD + i + 1 - width..=LEAD + i).map(at)).len() as i64;
    let dau: Vec<i64> = (0..n).map(|i| at(LEAD + i).len() as i64).collect();
    let wau: Vec<i64> = (0..n).map(|i| window(i, 7)).collect();
    let mau: Vec<i64> = (0..n).map(|i| window(i, 30)).collect();
    let (mut members, mut active_members) = (vec![0i64; n], vec![0i64; n]);
    // Days before today are complete.
    let complete = ((inp.today - inp.from).num_days().clamp(0, n as i64)) as usize;
    for i in 0..n {
        let seated = inp.belonged.numbered.get(i).unwrap_or(&empty);
        members[i] = seated.len() as i64 + inp.belonged.unnumbered.get(i).copied().unwrap_or(0);
        active_members[i] = seated.intersection_len(at(LEAD + i)) as i64;
    }
    // Active complete days per member number.
    let mut days_active: Vec<u16> = Vec::new();
    for i in 0..complete {
        for k in at(LEAD + i).ones() {
            let k = k as usize;
            if k >= days_active.len() {
                days_active.resize(k + 1, 0);
            }
            days_active[k] = days_active[k].saturating_add(1);
        }
    }
    let mut per_member_days: HashMap<i64, i64> = HashMap::new();
    for d in days_active.iter().filter(|d| **d > 0) {
        *per_member_days.entry(i64::from(*d)).or_default() += 1;
    }
    let ratios: Vec<f64> = (0..complete).filter(|&i| mau[i] > 0).map(|i| dau[i] as f64 / mau[i] as f64).collect();
    let stickiness = (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64);
    let days = (0..n)
        .map(|i| {
            let date = inp.from + Duration::days(i as i64);
            let known = date <= inp.today;
            let v = |x: i64| known.then_some(x);
            ActivityDay {
                date,
                dau: v(dau[i]),
                wau: v(wau[i]),
                mau: v(mau[i]),
                messages: v(inp.messages.get(i).copied().unwrap_or(0)),
                members: v(members[i]),
                active_members: v(active_members[i]),
                active_rate: (known && members[i] > 0).then(|| active_members[i] as f64 / members[i] as f64),
                incomplete: date >= inp.today,
            }
        })
        .collect();
    let mut distribution: Vec<ActiveDaysBucket> =
        per_member_days.into_iter().map(|(active_days, members)| ActiveDaysBucket { active_days, members }).collect();
    distribution.sort_by_key(|b| b.active_days);
    Computed { days, stickiness, distribution, active_members: days_active.iter().filter(|d| **d > 0).count() as i64 }
}

/// Who belonged on each of the `days` local days from `from`, the member's
/// number in the active sets from `key`: a seat `[joined, left)` covers the
/// days from the one holding `joined` to the one before the day `left`
/// ends in (a stint ending exactly at midnight does not reach into that
/// day) — found by binary search in the days' bounds (100k seats, no
/// timezone conversion each; the tests check it against the conversion).
/// Members seated through the whole period go in one set, added to every
/// day once; members without a number are counted once per day they
/// belonged, however many seats they held.
pub fn belonging(
    tz: chrono_tz::Tz,
    from: NaiveDate,
    days: usize,
    seats: &[crate::metrics::store::stints::Stint],
    key: impl Fn(&crate::metrics::store::stints::Stint) -> Option<u32>,
) -> Belonged {
    let bounds = crate::metrics::period::day_bounds(tz, from, from + Duration::days(days as i64));
    let last = days as i32 - 1;
    let mut numbered = vec![Bits::new(); days];
    let mut throughout = Bits::new();
    let mut others: HashMap<crate::metrics::store::stints::Who, Vec<(i32, i32)>> = HashMap::new();
    for s in seats {
        let (a, b) = seat_days(&bounds, s.joined_at, s.left_at);
        let (a, b) = (a.max(0), b.min(last));
        if a > b {
            continue;
        }
        match key(s) {
            Some(k) if a == 0 && b == last => throughout.insert(k),
            Some(k) => (a..=b).for_each(|i| numbered[i as usize].insert(k)),
            None => others.entry(s.who).or_default().push((a, b)),
        }
    }
    for day in &mut numbered {
        day.union_with(&throughout);
    }
    let mut unnumbered = vec![0i64; days];
    for ranges in others.into_values() {
        for (a, b) in merge(ranges) {
            (a..=b).for_each(|i| unnumbered[i as usize] += 1);
        }
    }
    Belonged { numbered, unnumbered }
}

/// The day offsets (inclusive; may fall outside the period) a seat
/// `[joined, left)` covers, given the bounds of the period's days.
fn seat_days(bounds: &[DateTime<Utc>], joined: DateTime<Utc>, left: Option<DateTime<Utc>>) -> (i32, i32) {
    // The day holding `joined_at`; the day before the one `left_at` ends in (or starts).
    let a = bounds.partition_point(|b| *b <= joined) as i32 - 1;
    let b = left.map_or(i32::MAX, |l| bounds.partition_point(|b| *b < l) as i32 - 1);
    (a, b)
}

/// Breakdown of the activity report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    Group,
    Tier,
}

/// One breakdown row over the whole period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActivityRow {
    /// Group id or tier key; `none` for events without a group / groups without a tier.
    pub key: String,
    /// Distinct members who belonged to a group of the row at some time in the period.
    pub members: i64,
    /// Distinct members active in a group of the row in the period.
    pub active_members: i64,
    /// Of `members`, those active in a group of the row in the period, / `members`.
    pub active_rate: Option<f64>,
    pub messages: i64,
}

/// Inputs of [`breakdown`].
pub struct RowsInput<'a> {
    pub by: Breakdown,
    /// (group, member, active days, messages) over the period.
    pub activity: &'a [(Uuid, Uuid, i64, i64)],
    /// Stints of the scope overlapping the period.
    pub stints: &'a [crate::metrics::store::repo::Stint],
    pub tiers: &'a HashMap<Uuid, Option<String>>,
}

/// Per group or tier of the scope: members, active members, active rate, messages.
pub fn breakdown(inp: &RowsInput) -> Vec<ActivityRow> {
    use std::collections::{BTreeMap, HashSet};
    let key = |g: &Uuid| row_key(inp.by, g, inp.tiers);
    #[derive(Default)]
    struct Acc {
        members: HashSet<Uuid>,
        active: HashSet<Uuid>,
        messages: i64,
    }
    let mut rows: BTreeMap<String, Acc> = BTreeMap::new();
    for s in inp.stints {
        rows.entry(key(&s.group_id)).or_default().members.insert(s.member_id);
    }
    for (g, m, active_days, messages) in inp.activity {
        let r = rows.entry(key(g)).or_default();
        if *active_days > 0 {
            r.active.insert(*m);
        }
        r.messages += messages;
    }
    let rows = rows.into_iter().map(|(key, a)| {
        let both = a.members.iter().filter(|m| a.active.contains(m)).count() as i64;
        row(key, a.members.len() as i64, a.active.len() as i64, both, a.messages)
    });
    finish_rows(rows)
}

/// A group's breakdown key: the group (`none`: no group) or its tier (`none`: no tier).
fn row_key(by: Breakdown, g: &Uuid, tiers: &HashMap<Uuid, Option<String>>) -> String {
    match by {
        Breakdown::Group if g.is_nil() => "none".to_owned(),
        Breakdown::Group => g.to_string(),
        Breakdown::Tier => tiers.get(g).cloned().flatten().unwrap_or_else(|| "none".to_owned()),
    }
}

fn row(key: String, members: i64, active_members: i64, both: i64, messages: i64) -> ActivityRow {
    ActivityRow {
        key,
        members,
        active_members,
        active_rate: (members > 0).then(|| both as f64 / members as f64),
        messages,
    }
}

/// Drops rows with nothing in them (a group seen only through uncounted
/// members or inactive events), most members first.
fn finish_rows(rows: impl Iterator<Item = ActivityRow>) -> Vec<ActivityRow> {
    let mut out: Vec<ActivityRow> = rows.filter(|r| r.members > 0 || r.active_members > 0 || r.messages > 0).collect();
    out.sort_by(|a, b| b.members.cmp(&a.members).then(a.key.cmp(&b.key)));
    out
}

/// [`breakdown`] from the day sets: who belonged from the stints, who was
/// active and their messages from each group's per-day lists (numbered
/// members; a member without a number has no rolled-up event, so can
/// belong but never be active).
pub fn breakdown_from_sets(
    by: Breakdown,
    days: &crate::metrics::store::group_days::GroupDays,
    stints: &[crate::metrics::store::stints::Stint],
    tiers: &HashMap<Uuid, Option<String>>,
) -> Vec<ActivityRow> {
    use crate::metrics::store::stints::Who;
    use std::collections::{BTreeMap, HashSet};
    let key = |g: &Uuid| row_key(by, g, tiers);
    #[derive(Default)]
    struct Acc {
        numbered: Vec<u32>,
        unnumbered: HashSet<Uuid>,
        active: Vec<u32>,
        messages: i64,
    }
    let mut rows: BTreeMap<String, Acc> = BTreeMap::new();
    for s in stints {
        let acc = rows.entry(key(&s.group_id)).or_default();
        match s.who {
            Who::Idx(k) => acc.numbered.push(k),
            Who::Id(m) => {
                acc.unnumbered.insert(m);
            }
        }
    }
    for (g, group_days) in &days.groups {
        let acc = rows.entry(key(g)).or_default();
        for d in group_days {
            acc.active.extend_from_slice(&d.active);
            acc.messages += d.sent.iter().map(|(_, n)| n).sum::<i64>();
        }
    }
    let rows = rows.into_iter().map(|(key, mut a)| {
        for v in [&mut a.numbered, &mut a.active] {
            v.sort_unstable();
            v.dedup();
        }
        let both = a.numbered.iter().filter(|k| a.active.binary_search(k).is_ok()).count() as i64;
        let members = (a.numbered.len() + a.unnumbered.len()) as i64;
        row(key, members, a.active.len() as i64, both, a.messages)
    });
    finish_rows(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seat's inclusive day range (offsets from `from`) by timezone
    /// conversion of each instant: what [`belonging`] must equal.
    fn stint_days(
        tz: chrono_tz::Tz,
        from: NaiveDate,
        joined: chrono::DateTime<chrono::Utc>,
        left: Option<chrono::DateTime<chrono::Utc>>,
    ) -> (i32, i32) {
        use crate::metrics::period::{day_start, local_day};
        let first = (local_day(tz, joined) - from).num_days() as i32;
        let last = match left {
            None => i32::MAX,
            Some(l) => {
                let day = local_day(tz, l);
                let day = if day_start(tz, day) == l { day - Duration::days(1) } else { day };
                (day - from).num_days() as i32
            }
        };
        (first, last)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn trailing_windows_count_each_member_once() {
        // Member 1 active on from-10 and from+0; member 2 on from+1 and from+2.
        let mut active = vec![Bits::new(); LEAD + 4];
        for (k, x) in [(1, LEAD - 10), (1, LEAD), (2, LEAD + 2), (2, LEAD + 1)] {
            active[x].insert(k);
        }
        // Member 1 belonged throughout, member 2 on days 0, 2 and 3, member 3
        // on day 3 without ever being active (no number).
        let belonged = Belonged {
            numbered: vec![
                Bits::from_ones([1, 2]),
                Bits::from_ones([1]),
                Bits::from_ones([1, 2]),
                Bits::from_ones([1, 2]),
            ],
            unnumbered: vec![0, 0, 0, 1],
        };
        let c = compute(&Input {
            from: d("2026-10-01"),
            days: 4,
            today: d("2026-10-04"),
            active: &active,
            belonged: &belonged,
            messages: &[1, 2, 3, 4],
        });
        let col = |f: fn(&ActivityDay) -> Option<i64>| c.days.iter().map(f).collect::<Vec<_>>();
        assert_eq!(col(|x| x.dau), vec![Some(1), Some(1), Some(1), Some(0)]);
        // Member 1's day from-10 is outside every 7-day window of the period.
        assert_eq!(col(|x| x.wau), vec![Some(1), Some(2), Some(2), Some(2)]);
        assert_eq!(col(|x| x.mau), vec![Some(1), Some(2), Some(2), Some(2)]);
        assert_eq!(col(|x| x.members), vec![Some(2), Some(1), Some(2), Some(3)]);
        // Member 2 was active on day 1 without belonging: not in the rate.
        assert_eq!(col(|x| x.active_members), vec![Some(1), Some(0), Some(1), Some(0)]);
        assert!(c.days[3].incomplete);
        assert!(!c.days[2].incomplete);
        // Complete days 0..3: dau/mau = 1, 0.5, 0.5.
        assert!((c.stickiness.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            c.distribution,
            vec![ActiveDaysBucket { active_days: 1, members: 1 }, ActiveDaysBucket { active_days: 2, members: 1 }]
        );
    }

    #[test]
    fn belonging_days_by_search_equal_the_timezone_conversion() {
        use chrono::TimeZone;
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let from = d("2026-03-01");
        let n = 20;
        let mut x: u64 = 7;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let midnight = |k: i64| crate::metrics::period::day_start(tz, from + Duration::days(k));
        for _ in 0..2000 {
            // Instants around the period, a third of them exactly at a local midnight (DST on 03-08).
            let mut at = || {
                let k = (next() % 26) as i64 - 3;
                if next() % 3 == 0 {
                    midnight(k)
                } else {
                    midnight(k) + Duration::seconds((next() % 90_000) as i64)
                }
            };
            let (j, l) = (at(), at());
            let (j, l) = (j.min(l), j.max(l));
            let left = (next() % 4 != 0).then_some(l);
            let seat = crate::metrics::store::stints::Stint {
                group_id: Uuid::nil(),
                who: crate::metrics::store::stints::Who::Idx(1),
                member_id: None,
                joined_at: j,
                left_at: left,
            };
            let (a, b) = stint_days(tz, from, j, left);
            // The days the conversion says, as a number (one set per day) and without one (a count).
            let want: Vec<bool> = (0..n as i32).map(|i| a <= i && i <= b).collect();
            let unnumbered = belonging(tz, from, n, std::slice::from_ref(&seat), |_| None);
            assert_eq!(unnumbered.unnumbered, want.iter().map(|w| i64::from(*w)).collect::<Vec<_>>(), "{j} {left:?}");
            let numbered = belonging(tz, from, n, &[seat], |_| Some(5));
            assert_eq!(numbered.numbered.iter().map(|d| d.contains(5)).collect::<Vec<_>>(), want, "{j} {left:?}");
            assert!(numbered.numbered.iter().all(|d| d.len() <= 1) && numbered.unnumbered.iter().all(|c| *c == 0));
        }
        assert_eq!(tz.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap().to_utc(), midnight(7));
    }

    #[test]
    fn future_days_are_null_not_zero() {
        let c = compute(&Input {
            from: d("2026-10-01"),
            days: 3,
            today: d("2026-10-02"),
            active: &[],
            belonged: &Belonged::default(),
            messages: &[],
        });
        assert_eq!(c.days[0].dau, Some(0));
        assert_eq!((c.days[1].dau, c.days[1].incomplete), (Some(0), true));
        assert_eq!((c.days[2].dau, c.days[2].active_rate, c.days[2].incomplete), (None, None, true));
        assert_eq!(c.stickiness, None);
    }
}
