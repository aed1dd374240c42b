//! Local calendar periods: day, week and month boundaries in a timezone.
//! A local day runs from the first instant whose local date is that day to
//! the first instant of the next (23 or 25 hours on DST days).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::workspaces::model::WeekStart;

/// The first instant of local day `day` (a day whose midnight falls in a DST
/// gap starts at the gap's end; an ambiguous midnight at its first occurrence).
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut probe = midnight;
    // Gaps are at most a few hours; step by 15 minutes until a local time exists.
    for _ in 0..(4 * 24) {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&midnight)
}

/// Bucket bounds of the local days `first..=last`: element `i` starts day
/// `first + i`, the last element ends `last`. Every local-day grouping in SQL
/// buckets instants with these (`width_bucket`), so day boundaries come from
/// one place (chrono-tz), never from the database's own timezone data.
pub fn day_bounds(tz: Tz, first: NaiveDate, last: NaiveDate) -> Vec<DateTime<Utc>> {
    first.iter_days().take_while(|d| *d <= last.succ_opt().unwrap_or(*d)).map(|d| day_start(tz, d)).collect()
}

/// The local date of an instant.
pub fn local_day(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Period sizes of cohort and lifecycle reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

/// The first day of the period holding `day`.
pub fn period_start(day: NaiveDate, period: Period, week_start: WeekStart) -> NaiveDate {
    match period {
        Period::Day => day,
        Period::Week => {
            let first = match week_start {
                WeekStart::Monday => 0,
                WeekStart::Sunday => 6,
                WeekStart::Saturday => 5,
            };
            let back = (day.weekday().num_days_from_monday() + 7 - first) % 7;
            day - Duration::days(back as i64)
        }
        Period::Month => day.with_day(1).unwrap_or(day),
    }
}

/// The first day of the period after the one starting at `start`.
pub fn next_period(start: NaiveDate, period: Period) -> NaiveDate {
    match period {
        Period::Day => start + Duration::days(1),
        Period::Week => start + Duration::days(7),
        Period::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(start),
    }
}

/// The start of the period `k` periods after (negative: before) the one starting at `start`.
pub fn shift(start: NaiveDate, period: Period, k: i64) -> NaiveDate {
    match period {
        Period::Day => start + Duration::days(k),
        Period::Week => start + Duration::days(7 * k),
        Period::Month => {
            let m = chrono::Months::new(k.unsigned_abs().min(u32::MAX as u64) as u32);
            if k >= 0 { start.checked_add_months(m) } else { start.checked_sub_months(m) }.unwrap_or(start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let len = |s: &str| (day_start(ny, d(s).succ_opt().unwrap()) - day_start(ny, d(s))).num_hours();
        assert_eq!(len("2026-03-08"), 23);
        assert_eq!(len("2026-11-01"), 25);
        assert_eq!(len("2026-11-02"), 24);
    }

    #[test]
    fn a_midnight_inside_a_gap_starts_the_day_at_the_gap_end() {
        // Santiago springs forward at 00:00 local (to 01:00) on 2026-09-06.
        let scl: Tz = "America/Santiago".parse().unwrap();
        let start = day_start(scl, d("2026-09-06"));
        assert_eq!(local_day(scl, start), d("2026-09-06"));
        assert_eq!(local_day(scl, start - Duration::seconds(1)), d("2026-09-05"));
    }

    #[test]
    fn day_bounds_bracket_every_day_of_the_range() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let b = day_bounds(ny, d("2026-10-31"), d("2026-11-01"));
        assert_eq!(b.len(), 3);
        assert_eq!(b[0], day_start(ny, d("2026-10-31")));
        assert_eq!((b[2] - b[1]).num_hours(), 25);
    }

    #[test]
    fn weeks_start_on_the_workspace_setting() {
        // 2026-11-19 is a Thursday.
        assert_eq!(period_start(d("2026-11-19"), Period::Week, WeekStart::Monday), d("2026-11-16"));
        assert_eq!(period_start(d("2026-11-19"), Period::Week, WeekStart::Sunday), d("2026-11-15"));
        assert_eq!(period_start(d("2026-11-19"), Period::Week, WeekStart::Saturday), d("2026-11-14"));
        assert_eq!(period_start(d("2026-11-16"), Period::Week, WeekStart::Monday), d("2026-11-16"));
        assert_eq!(period_start(d("2026-11-19"), Period::Month, WeekStart::Monday), d("2026-11-01"));
        assert_eq!(next_period(d("2026-01-01"), Period::Month), d("2026-02-01"));
        assert_eq!(shift(d("2026-01-01"), Period::Month, -2), d("2025-11-01"));
        assert_eq!(shift(d("2026-11-16"), Period::Week, 3), d("2026-12-07"));
    }
}
