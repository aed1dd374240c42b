//! Retention cohorts and lifecycle, per local day, week or month. Pure
//! arithmetic over each member's cohort day, active days and stints (see
//! `repo`); the definitions are in `docs/metrics.md`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::period::{day_start, period_start, shift, Period};
use crate::metrics::store::stints::Who;
use crate::workspaces::model::WeekStart;

/// What makes a member part of a cohort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortBy {
    /// Their first join to a group of the scope.
    #[default]
    Join,
    /// Their first active event in the scope.
    FirstActivity,
}

/// What counts as retained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Active on a day of the period.
    #[default]
    Active,
    /// Belonging to a group of the scope at the period's end.
    Member,
}

/// Retained in period k only, or in k or any later period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    On,
    OnOrAfter,
}

/// One cohort row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cohort {
    /// First day of the cohort's period.
    #[schema(value_type = String)]
    pub start: NaiveDate,
    pub size: i64,
    /// Members retained at period k (null for periods not begun).
    pub values: Vec<Option<i64>>,
    /// `values[k] / size` (null when empty or not begun).
    pub rates: Vec<Option<f64>>,
    /// Period k has not ended (its value may still grow).
    pub incomplete: Vec<bool>,
}

/// The size-weighted mean over cohorts whose period k is complete.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Average {
    /// Sum of the cohorts' sizes that `rates[k]` covers.
    pub sizes: Vec<i64>,
    pub values: Vec<i64>,
    pub rates: Vec<Option<f64>>,
}

/// One member's data.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// The local day the member entered the cohort.
    pub cohort_day: Option<NaiveDate>,
    /// Active local days, sorted.
    pub active: Vec<NaiveDate>,
    /// Stints in the scope `[joined, left)`.
    pub stints: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// The members who entered a cohort of `[first, cohort_end)`, from
/// (who, id when read with one, the local day they entered), and the ids of
/// those read with one.
#[allow(clippy::type_complexity)]
pub fn cohort_members(
    entries: Vec<(Who, Option<Uuid>, Option<NaiveDate>)>,
    first: NaiveDate,
    cohort_end: NaiveDate,
) -> (HashMap<Who, Member>, HashMap<Uuid, Who>) {
    let mut members: HashMap<Who, Member> = HashMap::new();
    let mut ids: HashMap<Uuid, Who> = HashMap::new();
    for (w, id, entered) in entries {
        let Some(day) = entered else { continue };
        if day >= first && day < cohort_end {
            members.insert(w, Member { cohort_day: Some(day), ..Default::default() });
            if let Some(id) = id {
                ids.insert(id, w);
            }
        }
    }
    (members, ids)
}

impl Member {
    fn belongs_before(&self, t: DateTime<Utc>) -> bool {
        self.stints.iter().any(|&(j, l)| j < t && l.is_none_or(|l| l >= t))
    }

    fn active_in(&self, lo: NaiveDate, hi: NaiveDate) -> bool {
        let i = self.active.partition_point(|d| *d < lo);
        self.active.get(i).is_some_and(|d| *d < hi)
    }
}

/// Inputs of [`retention`].
pub struct RetentionInput<'a> {
    pub tz: Tz,
    pub period: Period,
    pub week_start: WeekStart,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub periods: usize,
    pub measure: Measure,
    pub mode: Mode,
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub members: &'a HashMap<crate::metrics::store::stints::Who, Member>,
}

/// The cohort starts of `[from, to]`: every period holding one of its days.
pub fn cohort_starts(from: NaiveDate, to: NaiveDate, period: Period, week_start: WeekStart) -> Vec<NaiveDate> {
    let mut out = vec![period_start(from, period, week_start)];
    loop {
        let next = shift(out[out.len() - 1], period, 1);
        if next > to {
            return out;
        }
        out.push(next);
    }
}

/// The instant a period ending before local day `end` is sampled for
/// membership: its end, or now while it has not ended.
fn sample_at(inp: &RetentionInput, end: NaiveDate) -> DateTime<Utc> {
    day_start(inp.tz, end).min(inp.now)
}

/// Retention per cohort and the weighted average row.
pub fn retention(inp: &RetentionInput) -> (Vec<Cohort>, Average) {
    let starts = cohort_starts(inp.from, inp.to, inp.period, inp.week_start);
    let index: HashMap<NaiveDate, usize> = starts.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let n = inp.periods;
    let mut cohorts: Vec<Cohort> = starts
        .iter()
        .map(|&start| {
            let begun = |k: usize| shift(start, inp.period, k as i64) <= inp.today;
            Cohort {
                start,
                size: 0,
                values: (0..n).map(|k| begun(k).then_some(0)).collect(),
                rates: vec![None; n],
                incomplete: (0..n).map(|k| shift(start, inp.period, k as i64 + 1) > inp.today).collect(),
            }
        })
        .collect();
    for m in inp.members.values() {
        let Some(day) = m.cohort_day else { continue };
        let Some(&i) = index.get(&period_start(day, inp.period, inp.week_start)) else { continue };
        let c = &mut cohorts[i];
        c.size += 1;
        let start = c.start;
        // Period k of the cohort: [p(k), p(k + 1)).
        let p = |k: usize| shift(start, inp.period, k as i64);
        let far = inp.today + chrono::Duration::days(1);
        for k in 0..n {
            if p(k) > inp.today {
                break;
            }
            let lo = p(k).max(day);
            let retained = match (inp.measure, inp.mode) {
                (Measure::Active, Mode::On) => m.active_in(lo, p(k + 1)),
                (Measure::Active, Mode::OnOrAfter) => m.active_in(lo, far),
                (Measure::Member, Mode::On) => m.belongs_before(sample_at(inp, p(k + 1))),
                (Measure::Member, Mode::OnOrAfter) => {
                    (k..).take_while(|&j| p(j) <= inp.today).any(|j| m.belongs_before(sample_at(inp, p(j + 1))))
                }
            };
            if retained {
                if let Some(v) = c.values[k].as_mut() {
                    *v += 1;
                }
            }
        }
    }
    let mut avg = Average { sizes: vec![0; n], values: vec![0; n], rates: vec![None; n] };
    for c in &mut cohorts {
        for k in 0..n {
            if let Some(v) = c.values[k] {
                c.rates[k] = (c.size > 0).then(|| v as f64 / c.size as f64);
                if !c.incomplete[k] {
                    avg.sizes[k] += c.size;
                    avg.values[k] += v;
                }
            }
        }
    }
    for k in 0..n {
        avg.rates[k] = (avg.sizes[k] > 0).then(|| avg.values[k] as f64 / avg.sizes[k] as f64);
    }
    (cohorts, avg)
}

/// One period of the lifecycle report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LifecyclePeriod {
    #[schema(value_type = String)]
    pub start: NaiveDate,
    /// Active in the period for the first time ever (in the scope).
    pub new: Option<i64>,
    /// Active in the period and in the one before.
    pub returning: Option<i64>,
    /// Active in the period, not in the one before, but at some earlier time.
    pub resurrecting: Option<i64>,
    /// Active in the period before, not in this one.
    pub dormant: Option<i64>,
    /// `new + returning + resurrecting`.
    pub active: Option<i64>,
    pub incomplete: bool,
}

/// Lifecycle per period of `[from, to]`. `members`: first active day ever
/// and the active days from the period before the first on.
pub fn lifecycle<'a>(
    from: NaiveDate,
    to: NaiveDate,
    period: Period,
    week_start: WeekStart,
    today: NaiveDate,
    members: impl IntoIterator<Item = &'a Member>,
) -> Vec<LifecyclePeriod> {
    let starts = cohort_starts(from, to, period, week_start);
    let mut out: Vec<LifecyclePeriod> = starts
        .iter()
        .map(|&start| {
            let known = start <= today;
            let zero = known.then_some(0);
            LifecyclePeriod {
                start,
                new: zero,
                returning: zero,
                resurrecting: zero,
                dormant: zero,
                active: zero,
                incomplete: shift(start, period, 1) > today,
            }
        })
        .collect();
    let bump = |x: &mut Option<i64>| {
        if let Some(v) = x.as_mut() {
            *v += 1;
        }
    };
    for m in members {
        let Some(first) = m.cohort_day else { continue };
        for (t, &start) in starts.iter().enumerate() {
            if start > today {
                break;
            }
            let prev_start = shift(start, period, -1);
            let now = m.active_in(start, shift(start, period, 1));
            let before = m.active_in(prev_start, start);
            let row = &mut out[t];
            if now {
                bump(&mut row.active);
                if first >= start {
                    bump(&mut row.new);
                } else if before {
                    bump(&mut row.returning);
                } else {
                    bump(&mut row.resurrecting);
                }
            } else if before {
                bump(&mut row.dormant);
            }
        }
    }
    out
}

/// [`lifecycle`] over per-day member sets: `days[i]` holds the counted
/// members active on local day `lo + i` (`lo` is the day the period before
/// the first starts), `first[k]` member `k`'s first active day when it is
/// `lo` or later (earlier or unknown: never new). Same classification, by
/// set operations per period instead of a walk per member.
#[allow(clippy::too_many_arguments)]
pub fn lifecycle_of_sets(
    from: NaiveDate,
    to: NaiveDate,
    period: Period,
    week_start: WeekStart,
    today: NaiveDate,
    lo: NaiveDate,
    days: &[crate::metrics::store::packed::Bits],
    first: &[Option<NaiveDate>],
) -> Vec<LifecyclePeriod> {
    use crate::metrics::store::packed::Bits;
    let union = |a: NaiveDate, b: NaiveDate| -> Bits {
        let skip = usize::try_from((a - lo).num_days()).unwrap_or(0);
        let take = usize::try_from((b - a).num_days()).unwrap_or(0);
        Bits::union_of(days.iter().skip(skip).take(take))
    };
    let starts = cohort_starts(from, to, period, week_start);
    let mut before = starts.first().map(|s| union(lo, *s)).unwrap_or_default();
    starts
        .iter()
        .map(|&start| {
            let end = shift(start, period, 1);
            let mut row = LifecyclePeriod {
                start,
                new: None,
                returning: None,
                resurrecting: None,
                dormant: None,
                active: None,
                incomplete: end > today,
            };
            if start > today {
                return row;
            }
            let now = union(start, end);
            let (mut new, mut returning, mut resurrecting) = (0, 0, 0);
            for k in now.ones() {
                if first.get(k as usize).copied().flatten().is_some_and(|f| f >= start) {
                    new += 1;
                } else if before.contains(k) {
                    returning += 1;
                } else {
                    resurrecting += 1;
                }
            }
            let mut dormant = before.clone();
            dormant.difference_with(&now);
            row.active = Some(now.len() as i64);
            row.new = Some(new);
            row.returning = Some(returning);
            row.resurrecting = Some(resurrecting);
            row.dormant = Some(dormant.len() as i64);
            before = now;
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn member(cohort: &str, active: &[&str]) -> Member {
        Member { cohort_day: Some(d(cohort)), active: active.iter().map(|a| d(a)).collect(), stints: vec![] }
    }

    #[test]
    fn weekly_retention_counts_on_and_on_or_after() {
        // Weeks start Monday: 2026-10-05, -12, -19, -26; today 2026-10-28 (Wednesday).
        use crate::metrics::store::stints::Who;
        let members = HashMap::from([
            (Who::Idx(1), member("2026-10-06", &["2026-10-06", "2026-10-20"])),
            (Who::Id(Uuid::from_u128(2)), member("2026-10-11", &["2026-10-13"])),
            (Who::Idx(3), member("2026-10-13", &["2026-10-13", "2026-10-27"])),
            // Cohort day in the first week, first activity before its cohort day doesn't count.
            (Who::Idx(4), member("2026-10-08", &["2026-10-06"])),
        ]);
        let inp = |mode| RetentionInput {
            tz: chrono_tz::UTC,
            period: Period::Week,
            week_start: WeekStart::Monday,
            from: d("2026-10-07"),
            to: d("2026-10-14"),
            periods: 4,
            measure: Measure::Active,
            mode,
            today: d("2026-10-28"),
            now: chrono::Utc.with_ymd_and_hms(2026, 10, 28, 12, 0, 0).unwrap(),
            members: &members,
        };
        let (cohorts, avg) = retention(&inp(Mode::On));
        assert_eq!(cohorts.len(), 2);
        assert_eq!((cohorts[0].start, cohorts[0].size), (d("2026-10-05"), 3));
        assert_eq!(cohorts[0].values, vec![Some(1), Some(1), Some(1), Some(0)]);
        assert_eq!(cohorts[0].incomplete, vec![false, false, false, true]);
        assert_eq!(cohorts[1].values, vec![Some(1), Some(0), Some(1), None]);
        assert_eq!(cohorts[1].incomplete, vec![false, false, true, true]);
        // Week 2 is complete only for the first cohort: 1 of 3.
        assert_eq!(avg.sizes, vec![4, 4, 3, 0]);
        assert_eq!(avg.values, vec![2, 1, 1, 0]);
        assert_eq!(avg.rates[3], None);
        let (cohorts, _) = retention(&inp(Mode::OnOrAfter));
        assert_eq!(cohorts[0].values, vec![Some(2), Some(2), Some(1), Some(0)]);
        assert_eq!(cohorts[1].values, vec![Some(1), Some(1), Some(1), None]);
    }

    #[test]
    fn lifecycle_classifies_each_active_member_once() {
        let members = HashMap::from([
            (Uuid::from_u128(1), member("2026-10-01", &["2026-10-01", "2026-10-02", "2026-10-04"])),
            (Uuid::from_u128(2), member("2026-09-01", &["2026-10-02"])),
            (Uuid::from_u128(3), member("2026-09-30", &["2026-09-30"])),
        ]);
        let l = lifecycle(
            d("2026-10-01"),
            d("2026-10-04"),
            Period::Day,
            WeekStart::Monday,
            d("2026-10-04"),
            members.values(),
        );
        let row = |i: usize| (l[i].new, l[i].returning, l[i].resurrecting, l[i].dormant);
        assert_eq!(row(0), (Some(1), Some(0), Some(0), Some(1)));
        assert_eq!(row(1), (Some(0), Some(1), Some(1), Some(0)));
        assert_eq!(row(2), (Some(0), Some(0), Some(0), Some(2)));
        assert_eq!(row(3), (Some(0), Some(0), Some(1), Some(0)));
        assert!(l[3].incomplete && !l[2].incomplete);
    }
}
