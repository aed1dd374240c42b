//! Points DTOs and the expiry arithmetic.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::ids::MemberId;
use crate::validate::{schema, Checks};
use crate::workspaces::model::PointsExpiry;

/// What a ledger entry did to the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum EntryKind {
    /// Points credited as a new lot.
    Earn,
    /// Points debited for something the member got (mall, makeup check-in).
    Spend,
    /// The unspent remainder of a lot, at its expiry.
    Expire,
    /// Points taken back because what earned them was refunded.
    Clawback,
    /// An operator's correction, either way.
    Adjust,
}

/// What caused a ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SourceType {
    CheckIn,
    StreakBonus,
    Makeup,
    Order,
    Invite,
    Mall,
    Lottery,
    Manual,
    Refund,
    Rule,
    /// An expiry run (`id`: the lot that expired).
    Expiry,
}

/// The cause of an entry: a type and the id of the thing (a check-in, an
/// order id, a redemption…). One grant per source: crediting the same
/// source twice is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: SourceType,
    pub id: String,
}

impl Source {
    /// A source.
    pub fn new(kind: SourceType, id: impl ToString) -> Self {
        Self { kind, id: id.to_string() }
    }
}

/// One change of a member's balance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub id: uuid::Uuid,
    pub member_id: MemberId,
    /// Signed change (0 only for a clawback fully written off).
    pub delta: i64,
    pub balance_after: i64,
    pub kind: EntryKind,
    pub source: Source,
    pub note: String,
    pub occurred_at: DateTime<Utc>,
    /// When the lot this entry created expires (earnings and positive
    /// adjustments under an expiring policy).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Points that expire together.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Expiring {
    pub points: i64,
    pub expires_at: DateTime<Utc>,
}

/// `GET /v1/members/{id}/points`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsBalance {
    pub member_id: MemberId,
    /// Negative only while a clawback debt is being paid off.
    pub balance: i64,
    /// The next expiries, earliest first (at most 12).
    pub expiring: Vec<Expiring>,
}

/// Largest change one entry may make.
pub const MAX_DELTA: i64 = 1_000_000_000;

/// `POST /v1/members/{id}/points/adjustments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdjustment {
    /// Non-zero; a negative one may not take the balance below zero.
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(schema_with = nonzero_delta)]
    pub delta: i64,
    #[schema(schema_with = schema::text::<1, 500>)]
    pub note: String,
}

/// An integer within ±[`MAX_DELTA`], not zero.
fn nonzero_delta() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let range = |lo: i64, hi: i64| {
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(lo as f64)).maximum(Some(hi as f64)).build()
    };
    OneOfBuilder::new()
        .item(range(-MAX_DELTA, -1))
        .item(range(1, MAX_DELTA))
        .description(Some("Non-zero, within ±1000000000"))
        .build()
        .into()
}

impl CreateAdjustment {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if self.delta == 0 || self.delta.abs() > MAX_DELTA {
            c.fail("delta", "invalid", "must be non-zero, within ±1000000000");
        }
        c.text("note", &self.note, 1, 500);
        c.finish()
    }
}

/// When a lot earned at `at` expires: the local midnight (in `tz`) that ends
/// its last day; None when points never expire.
pub fn expires_at(policy: PointsExpiry, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let earned = crate::metrics::period::local_day(tz, at);
    let last = last_day(policy, earned)?;
    Some(crate::metrics::period::day_start(tz, last.succ_opt()?))
}

/// The last local day a lot earned on `earned` may be spent.
pub fn last_day(policy: PointsExpiry, earned: NaiveDate) -> Option<NaiveDate> {
    match policy {
        PointsExpiry::Never => None,
        PointsExpiry::AfterDays { days } => earned.checked_add_signed(Duration::days(days as i64)),
        PointsExpiry::EndOfYearAfter { years } => NaiveDate::from_ymd_opt(earned.year() + years as i32, 12, 31),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_lot_expires_at_the_local_midnight_ending_its_last_day() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        // 23:59 on 3 Dec in Shanghai is 15:59 UTC.
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 15, 59, 0).unwrap();
        let exp = expires_at(PointsExpiry::AfterDays { days: 1 }, tz, at).unwrap();
        // Last day 4 Dec; expires at 5 Dec 00:00 Shanghai = 4 Dec 16:00 UTC.
        assert_eq!(exp, Utc.with_ymd_and_hms(2026, 12, 4, 16, 0, 0).unwrap());
        // One minute later it is 4 Dec locally: a day later.
        let exp2 = expires_at(PointsExpiry::AfterDays { days: 1 }, tz, at + Duration::minutes(1)).unwrap();
        assert_eq!(exp2 - exp, Duration::days(1));
        assert_eq!(expires_at(PointsExpiry::Never, tz, at), None);
    }

    #[test]
    fn end_of_year_after_counts_calendar_years() {
        assert_eq!(last_day(PointsExpiry::EndOfYearAfter { years: 1 }, d(2026, 1, 1)), Some(d(2027, 12, 31)));
        assert_eq!(last_day(PointsExpiry::EndOfYearAfter { years: 1 }, d(2026, 12, 31)), Some(d(2027, 12, 31)));
        assert_eq!(last_day(PointsExpiry::EndOfYearAfter { years: 0 }, d(2026, 6, 1)), Some(d(2026, 12, 31)));
        let ny: Tz = "America/New_York".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        // 1 Jan 2028 00:00 EST = 05:00 UTC.
        assert_eq!(
            expires_at(PointsExpiry::EndOfYearAfter { years: 1 }, ny, at),
            Some(Utc.with_ymd_and_hms(2028, 1, 1, 5, 0, 0).unwrap())
        );
    }

    #[test]
    fn after_days_across_a_dst_change_ends_at_local_midnight() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // Earned 10 Mar 2027 (EST, -5); 7 days → last day 17 Mar (EDT, -4).
        let at = Utc.with_ymd_and_hms(2027, 3, 10, 17, 0, 0).unwrap();
        assert_eq!(
            expires_at(PointsExpiry::AfterDays { days: 7 }, ny, at),
            Some(Utc.with_ymd_and_hms(2027, 3, 18, 4, 0, 0).unwrap())
        );
    }
}
