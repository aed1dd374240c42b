//! The member engagement score: each day's weighted event counts, capped,
//! halving every 30 days, over 180 days; a level 0-10. The weights are the
//! store's one table (`store::points`), which the SQL of a group's
//! leaderboard reads too. Definitions in `docs/metrics.md`.

use chrono::{Duration, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::store::points::day_points;
pub use crate::metrics::store::points::DayCounts;

/// Days of history the engagement score reads.
pub const ENGAGEMENT_DAYS: i64 = 180;

/// Weight of a day `age` days before the score's day: halves every 30 days.
pub fn decay(age: i64) -> f64 {
    0.5f64.powi((age / 30) as i32)
}

/// Level 0-10 of a score: 0 below 1, else 1 + ⌊log2 score⌋, at most 10.
pub fn level(score: f64) -> i64 {
    if score < 1.0 {
        0
    } else {
        (1 + score.log2().floor() as i64).min(10)
    }
}

/// 30 days of an engagement score.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EngagementSpan {
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// Σ of the days' capped points.
    pub points: i64,
    /// What each point is worth (halves every 30 days).
    pub weight: f64,
}

/// A member's engagement score, explained.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Engagement {
    #[schema(value_type = String)]
    pub as_of: NaiveDate,
    /// Σ over the 180 days of min(10, day's weighted events) × weight.
    pub score: f64,
    /// 0 below 1 point, else 1 + ⌊log2 score⌋, at most 10.
    pub level: i64,
    /// Days with points.
    pub active_days: i64,
    /// The six 30-day spans, newest first.
    pub spans: Vec<EngagementSpan>,
    /// Event counts of the 180 days.
    pub counts: DayCounts,
}

/// The first day of the [`ENGAGEMENT_DAYS`] a score as of `to` reads.
pub fn first_day(to: NaiveDate) -> NaiveDate {
    to - Duration::days(ENGAGEMENT_DAYS - 1)
}

/// A member's engagement as of the end of `to`, from their event counts per
/// local day (days outside the window are not expected).
pub fn score(to: NaiveDate, days: &[(NaiveDate, DayCounts)]) -> Engagement {
    let mut spans: Vec<EngagementSpan> = (0..ENGAGEMENT_DAYS / 30)
        .map(|k| EngagementSpan {
            from: to - Duration::days(30 * k + 29),
            to: to - Duration::days(30 * k),
            points: 0,
            weight: decay(30 * k),
        })
        .collect();
    let mut counts = DayCounts::default();
    let (mut score, mut active_days) = (0.0, 0);
    for (d, n) in days {
        let age = (to - *d).num_days();
        let points = day_points(n);
        score += points as f64 * decay(age);
        active_days += i64::from(points > 0);
        if let Some(s) = spans.get_mut((age / 30) as usize) {
            s.points += points;
        }
        counts.add(n);
    }
    Engagement { as_of: to, score, level: level(score), active_days, spans, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_double_and_stop_at_ten() {
        assert_eq!(level(0.0), 0);
        assert_eq!(level(0.99), 0);
        assert_eq!(level(1.0), 1);
        assert_eq!(level(3.9), 2);
        assert_eq!(level(4.0), 3);
        assert_eq!(level(511.0), 9);
        assert_eq!(level(512.0), 10);
        assert_eq!(level(1e9), 10);
        assert_eq!((decay(0), decay(29), decay(30), decay(95)), (1.0, 1.0, 0.5, 0.125));
    }

    #[test]
    fn a_score_sums_capped_days_by_their_age_and_fills_the_spans() {
        let to = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let day = |ago: i64, messages: i64| (to - Duration::days(ago), DayCounts { messages, ..Default::default() });
        // 40 messages are capped at 10 points; a day 30-59 days old counts half; 0 points is no active day.
        let e = score(to, &[day(0, 40), day(1, 3), day(45, 4), day(100, 0)]);
        assert_eq!(e.score, 10.0 + 3.0 + 2.0);
        assert_eq!((e.active_days, e.level, e.as_of), (3, 4, to));
        let points: Vec<i64> = e.spans.iter().map(|s| s.points).collect();
        assert_eq!(points, [13, 4, 0, 0, 0, 0]);
        assert_eq!((e.spans[1].from, e.spans[1].to), (to - Duration::days(59), to - Duration::days(30)));
        assert_eq!(e.counts.messages, 47);
        assert_eq!(first_day(to), to - Duration::days(179));
    }
}
