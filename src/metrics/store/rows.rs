//! The rows the store hands up to the reports (orders, funnel events), and
//! the attribution window the rollup keeps orders under.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The default attribution window: an order without a campaign of its own
/// goes to the member's last campaign click at most this many days before
/// paying (the rollup keeps this attribution per order).
pub const DEFAULT_ATTRIBUTION_DAYS: i64 = 7;

/// An order as the reports see it (one row of `metric_orders`, attributed,
/// or one packed record of a payment day).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Order {
    pub member_id: Option<Uuid>,
    /// The member's number (orders read from `metric_order_days`, whose member ids are not read).
    #[sqlx(skip)]
    pub idx: Option<u32>,
    pub group_id: Option<Uuid>,
    /// The group's tier (read only for a report by tier).
    pub tier: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub amount: i64,
    pub refunded_at: Option<DateTime<Utc>>,
    /// Paid in another currency than the workspace's (counted apart, left out of every figure).
    pub other_currency: bool,
    /// Already capped at `amount`.
    pub refund: i64,
    /// The event's campaign, else the member's last campaign click before paying.
    pub campaign_id: Option<Uuid>,
}

/// An event as the funnel reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub member_id: Uuid,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub id: Uuid,
    pub group_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub campaign_code: Option<String>,
    pub properties: Option<serde_json::Value>,
}

impl Event {
    /// The campaign `hold=campaign` keeps constant: its id, else its code.
    pub fn campaign(&self) -> Option<String> {
        match (&self.campaign_id, &self.campaign_code) {
            (Some(id), _) => Some(id.to_string()),
            (None, Some(code)) => Some(format!("code:{code}")),
            (None, None) => None,
        }
    }
}
