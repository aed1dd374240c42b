//! Flash-sale DTOs and the schedule's occurrences.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::coupons::model::{check_money, Eligibility, MAX_MONEY};
use crate::error::ApiResult;
use crate::ids::{CampaignId, GroupId, MemberId};
use crate::validate::{schema, Checks};

/// When a sale runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Once, from `starts_at` until `ends_at` (exclusive).
    Once { starts_at: DateTime<Utc>, ends_at: DateTime<Utc> },
    /// Every day at local `at` (`HH:MM`, the group's timezone when a
    /// reservation names a group that has one, else the workspace's) for
    /// `duration_minutes`; each day's slot has its own stock.
    Daily {
        #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        at: String,
        #[serde(deserialize_with = "crate::validate::de::uint32")]
        #[schema(minimum = 1, maximum = 1440)]
        duration_minutes: u32,
    },
}

/// One run of a sale: `[starts_at, ends_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Occurrence {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Where `now` stands against a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A run is on.
    Now(Occurrence),
    /// The next run.
    Next(Occurrence),
    /// No run is left.
    Over,
}

/// The instant of local `time` on `day` in `tz` (a time skipped by a
/// clock change is read an hour later).
fn local(tz: chrono_tz::Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = day.and_time(time);
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

impl Schedule {
    /// The schedule at the database's precision (microseconds): a run's
    /// `starts_at` is the key of its stock row, and is compared with it.
    pub fn to_micros(self) -> Self {
        use chrono::SubsecRound;
        match self {
            Schedule::Once { starts_at, ends_at } => {
                Schedule::Once { starts_at: starts_at.trunc_subsecs(6), ends_at: ends_at.trunc_subsecs(6) }
            }
            daily => daily,
        }
    }

    /// The run on at `now`, else the next one.
    pub fn when(&self, tz: chrono_tz::Tz, now: DateTime<Utc>) -> When {
        match self {
            Schedule::Once { starts_at, ends_at } => {
                let o = Occurrence { starts_at: *starts_at, ends_at: *ends_at };
                if now < *starts_at {
                    When::Next(o)
                } else if now < *ends_at {
                    When::Now(o)
                } else {
                    When::Over
                }
            }
            Schedule::Daily { at, duration_minutes } => {
                let time = NaiveTime::parse_from_str(at, "%H:%M").unwrap_or(NaiveTime::MIN);
                let today = now.with_timezone(&tz).date_naive();
                let run = |day: NaiveDate| {
                    let starts_at = local(tz, day, time);
                    Occurrence { starts_at, ends_at: starts_at + Duration::minutes(*duration_minutes as i64) }
                };
                // Yesterday's run may still be on (a slot crossing midnight).
                for day in [today.pred_opt(), Some(today)].into_iter().flatten() {
                    let o = run(day);
                    if o.starts_at <= now && now < o.ends_at {
                        return When::Now(o);
                    }
                    if now < o.starts_at {
                        return When::Next(o);
                    }
                }
                today.succ_opt().map_or(When::Over, |d| When::Next(run(d)))
            }
        }
    }
}

/// One item of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleItem {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub product_id: String,
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    /// Minor units.
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub list_price: i64,
    /// Minor units, at most `list_price`.
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub sale_price: i64,
    /// Units per run.
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub stock: i32,
    /// Units a member may take per run.
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub per_member_limit: i32,
}

/// Whether a sale runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SaleStatus {
    Active,
    Paused,
    Archived,
}

/// An item's stock in one run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemStock {
    pub product_id: String,
    pub name: String,
    /// Minor units.
    pub list_price: i64,
    /// Minor units.
    pub sale_price: i64,
    /// Units in this run.
    pub stock: i32,
    /// Units a member may take per run.
    pub per_member_limit: i32,
    pub reserved: i64,
    pub sold: i64,
    /// `stock - reserved - sold`.
    pub available: i64,
}

/// A flash sale.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlashSale {
    pub id: uuid::Uuid,
    pub campaign_id: CampaignId,
    pub name: String,
    pub schedule: Schedule,
    pub eligible: Option<Eligibility>,
    pub reservation_minutes: i32,
    /// The shop's page of the sale (`{{flash_sale.link}}`; null: the campaign's link).
    pub link: Option<String>,
    pub status: SaleStatus,
    /// The run on now (in the workspace's timezone), else the next one (null: none left).
    pub occurrence: Option<Occurrence>,
    /// Whether `occurrence` is on now.
    pub on_now: bool,
    /// Each item with its stock in that run.
    pub items: Vec<ItemStock>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/flash-sales`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSale {
    pub campaign_id: CampaignId,
    /// Default: the campaign's name.
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<SaleItem>,
    pub schedule: Schedule,
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub eligible: Option<Eligibility>,
    /// Minutes an unpaid reservation holds its units (default 15).
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1440)]
    pub reservation_minutes: Option<u32>,
    /// The shop's page of the sale (`{{flash_sale.link}}`).
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<String>,
    pub status: Option<SaleStatus>,
}

impl CreateSale {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(n) = &self.name {
            c.text("name", n, 1, 200);
        }
        if self.items.is_empty() || self.items.len() > 100 {
            c.fail("items", "invalid", "1 to 100 items");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, it) in self.items.iter().enumerate() {
            let f = |n: &str| format!("items[{i}].{n}");
            c.text(&f("product_id"), &it.product_id, 1, 128);
            c.text(&f("name"), &it.name, 1, 200);
            if !seen.insert(&it.product_id) {
                c.fail(f("product_id"), "duplicate", "listed twice");
            }
            check_money(&mut c, &f("list_price"), it.list_price, 0);
            if !(0..=MAX_MONEY).contains(&it.sale_price) || it.sale_price > it.list_price {
                c.fail(f("sale_price"), "invalid", "0 to list_price");
            }
            if !(0..=1_000_000).contains(&it.stock) {
                c.fail(f("stock"), "invalid", "must be 0 to 1000000");
            }
            if !(1..=1000).contains(&it.per_member_limit) {
                c.fail(f("per_member_limit"), "invalid", "must be 1 to 1000");
            }
        }
        match &self.schedule {
            Schedule::Once { starts_at, ends_at } if ends_at <= starts_at => {
                c.fail("schedule.ends_at", "invalid", "must be after starts_at")
            }
            Schedule::Daily { at, duration_minutes } => {
                if NaiveTime::parse_from_str(at, "%H:%M").is_err() || at.len() != 5 {
                    c.fail("schedule.at", "invalid", "a local time HH:MM");
                }
                if !(1..=1440).contains(duration_minutes) {
                    c.fail("schedule.duration_minutes", "invalid", "must be 1 to 1440");
                }
            }
            Schedule::Once { .. } => {}
        }
        if let Some(e) = &self.eligible {
            e.check(&mut c);
        }
        if self.reservation_minutes.is_some_and(|m| !(1..=1440).contains(&m)) {
            c.fail("reservation_minutes", "invalid", "must be 1 to 1440");
        }
        if let Some(u) = &self.link {
            c.url("link", u);
        }
        c.finish()
    }
}

/// `PATCH /v1/flash-sales/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSale {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub status: Option<SaleStatus>,
    /// null: the campaign's link.
    #[serde(default, deserialize_with = "crate::http::patch::double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<Option<String>>,
}

/// `POST /v1/flash-sales/{id}/items/{product_id}/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    pub member_id: MemberId,
    /// Default 1.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: Option<u32>,
    /// The group the member buys from: its timezone places a daily slot.
    pub group_id: Option<GroupId>,
}

/// Where a reservation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Holding its units until `expires_at`.
    Reserved,
    /// Paid (`order_id`).
    Confirmed,
    Cancelled,
    /// Unpaid in time: its units went back.
    Expired,
}

/// Units held for a member at the sale price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reservation {
    pub id: uuid::Uuid,
    pub sale_id: uuid::Uuid,
    pub product_id: String,
    pub member_id: MemberId,
    pub quantity: i32,
    /// Unit price (minor units).
    pub price: i64,
    pub status: ReservationStatus,
    pub order_id: Option<String>,
    /// The run it belongs to.
    pub starts_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/flash-sale-reservations/{id}/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub order_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_one_off_schedule_is_kept_at_the_databases_precision() {
        let once = Schedule::Once {
            starts_at: utc("2026-12-07T02:00:00.123456789Z"),
            ends_at: utc("2026-12-07T03:00:00.999999999Z"),
        };
        let When::Now(run) = once.to_micros().when(chrono_tz::UTC, utc("2026-12-07T02:30:00Z")) else {
            panic!("on now")
        };
        assert_eq!(run.starts_at, utc("2026-12-07T02:00:00.123456Z"));
        assert_eq!(run.ends_at, utc("2026-12-07T03:00:00.999999Z"));
        let daily = Schedule::Daily { at: "10:00".into(), duration_minutes: 30 };
        assert_eq!(daily.clone().to_micros(), daily);
    }

    #[test]
    fn a_daily_slot_is_placed_in_local_time_and_a_run_crossing_midnight_is_found() {
        let tz = chrono_tz::Asia::Shanghai;
        let daily = Schedule::Daily { at: "10:00".into(), duration_minutes: 30 };
        let run = |s: &str, e: &str| Occurrence { starts_at: utc(s), ends_at: utc(e) };
        assert_eq!(
            daily.when(tz, utc("2026-11-20T01:59:00Z")),
            When::Next(run("2026-11-20T02:00:00Z", "2026-11-20T02:30:00Z"))
        );
        assert_eq!(
            daily.when(tz, utc("2026-11-20T02:00:00Z")),
            When::Now(run("2026-11-20T02:00:00Z", "2026-11-20T02:30:00Z"))
        );
        assert_eq!(
            daily.when(tz, utc("2026-11-20T02:30:00Z")),
            When::Next(run("2026-11-21T02:00:00Z", "2026-11-21T02:30:00Z"))
        );
        let late = Schedule::Daily { at: "23:30".into(), duration_minutes: 60 };
        // 00:10 local on the 21st: the run of the 20th is still on.
        assert_eq!(
            late.when(tz, utc("2026-11-20T16:10:00Z")),
            When::Now(run("2026-11-20T15:30:00Z", "2026-11-20T16:30:00Z"))
        );
        let once = Schedule::Once { starts_at: utc("2026-11-20T02:00:00Z"), ends_at: utc("2026-11-20T03:00:00Z") };
        assert_eq!(once.when(tz, utc("2026-11-20T03:00:00Z")), When::Over);
        // A slot skipped by a clock change is read an hour later.
        let ny = chrono_tz::America::New_York;
        let spring = Schedule::Daily { at: "02:30".into(), duration_minutes: 10 };
        assert_eq!(
            spring.when(ny, utc("2026-03-08T05:00:00Z")),
            When::Next(run("2026-03-08T07:30:00Z", "2026-03-08T07:40:00Z"))
        );
    }
}
