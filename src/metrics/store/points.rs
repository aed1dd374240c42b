//! The one engagement weights table: points per event kind, read by the
//! Rust score of one member (`reports::engagement`) and by the SQL of a
//! group's leaderboard (`store::repo`), so the two cannot disagree.

use serde::Serialize;
use utoipa::ToSchema;

/// Most points one day can give.
pub const DAILY_CAP: i64 = 10;
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

    pub fn add(&mut self, o: &DayCounts) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_weighted_and_capped_alike_in_rust_and_sql() {
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
