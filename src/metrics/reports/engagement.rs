//! The member engagement score: each day's weighted event counts, capped,
//! halving every 30 days, over 180 days; a level 0-10. One weights table
//! serves the Rust computation (a member's own score) and the SQL one (a
//! group's leaderboard). Definitions in `docs/metrics.md`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::params::{self, Ctx};
use crate::metrics::store::repo;

/// Most points one day can give.
pub const DAILY_CAP: i64 = 10;
/// Days of history the engagement score reads.
pub const ENGAGEMENT_DAYS: i64 = 180;

/// Points per event: the `metric_member_days` column and its weight, in
/// the order of [`DayCounts::values`].
const WEIGHTS: [(&str, i64); 7] = [
    ("messages", 1),
    ("check_ins", 2),
    ("link_clicks", 1),
    ("coupons_claimed", 2),
    ("coupons_redeemed", 3),
    ("orders_paid", 5),
    ("invites", 3),
];

/// Event counts of one member-day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct DayCounts {
    pub messages: i64,
    pub check_ins: i64,
    pub link_clicks: i64,
    pub coupons_claimed: i64,
    pub coupons_redeemed: i64,
    pub orders_paid: i64,
    pub invites: i64,
}

impl DayCounts {
    /// The counts in the order of [`WEIGHTS`].
    fn values(&self) -> [i64; 7] {
        [
            self.messages,
            self.check_ins,
            self.link_clicks,
            self.coupons_claimed,
            self.coupons_redeemed,
            self.orders_paid,
            self.invites,
        ]
    }

    fn add(&mut self, o: &DayCounts) {
        self.messages += o.messages;
        self.check_ins += o.check_ins;
        self.link_clicks += o.link_clicks;
        self.coupons_claimed += o.coupons_claimed;
        self.coupons_redeemed += o.coupons_redeemed;
        self.orders_paid += o.orders_paid;
        self.invites += o.invites;
    }
}

/// Engagement points of one day: weighted event counts, capped.
pub fn day_points(c: &DayCounts) -> i64 {
    c.values().iter().zip(WEIGHTS).map(|(n, (_, w))| n * w).sum::<i64>().min(DAILY_CAP)
}

/// The same as SQL over the columns of a member-day row.
pub fn day_points_sql() -> String {
    let sum: Vec<String> = WEIGHTS.iter().map(|(col, w)| format!("{w} * {col}")).collect();
    format!("LEAST({DAILY_CAP}, {})", sum.join(" + "))
}

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

/// A member's engagement over every group, as of the end of `c.to`.
pub async fn member_engagement(conn: &mut PgConnection, c: &Ctx, member: Uuid) -> Result<Engagement, sqlx::Error> {
    let lo = c.to - Duration::days(ENGAGEMENT_DAYS - 1);
    let days = repo::member_day_counts(conn, c, member, lo, c.to).await?;
    let mut spans: Vec<EngagementSpan> = (0..ENGAGEMENT_DAYS / 30)
        .map(|k| EngagementSpan {
            from: c.to - Duration::days(30 * k + 29),
            to: c.to - Duration::days(30 * k),
            points: 0,
            weight: decay(30 * k),
        })
        .collect();
    let mut counts = DayCounts::default();
    let (mut score, mut active_days) = (0.0, 0);
    for (d, n) in &days {
        let age = (c.to - *d).num_days();
        let points = day_points(n);
        score += points as f64 * decay(age);
        active_days += i64::from(points > 0);
        if let Some(s) = spans.get_mut((age / 30) as usize) {
            s.points += points;
        }
        counts.add(n);
    }
    Ok(Engagement { as_of: c.to, score, level: level(score), active_days, spans, counts })
}

/// Engagement of a member, as of now, for the member resource.
pub async fn engagement_now(
    conn: &mut PgConnection,
    w: crate::workspaces::model::Workspace,
    member: Uuid,
    now: DateTime<Utc>,
) -> Result<Engagement, sqlx::Error> {
    member_engagement(conn, &params::workspace_ctx(w, now), member).await
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
        let c = DayCounts { messages: 3, orders_paid: 1, ..Default::default() };
        assert_eq!(day_points(&c), 8);
        assert_eq!(day_points(&DayCounts { messages: 40, ..Default::default() }), 10);
        assert_eq!(
            day_points_sql(),
            "LEAST(10, 1 * messages + 2 * check_ins + 1 * link_clicks + 2 * coupons_claimed + 3 * coupons_redeemed \
             + 5 * orders_paid + 3 * invites)"
        );
    }
}
