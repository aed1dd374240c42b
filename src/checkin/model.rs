//! Check-in DTOs and the check-in day arithmetic.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::ids::{CampaignId, GroupId, MemberId};
use crate::validate::Checks;

/// The check-in day of instant `at`: its local date in `tz` after shifting
/// the day's start to `day_start` (with `04:00`, 03:59 is the day before).
/// Local wall-clock arithmetic, so DST days of 23 or 25 hours are one day.
pub fn check_in_day(tz: Tz, day_start: NaiveTime, at: DateTime<Utc>) -> NaiveDate {
    let local = at.with_timezone(&tz).naive_local();
    (local - (day_start - NaiveTime::MIN)).date()
}

/// The first instant of check-in day `day`.
pub fn day_begins(tz: Tz, day_start: NaiveTime, day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = day.and_time(day_start);
    // A start inside a DST gap begins at the gap's end (at most a few hours on).
    (0..(4 * 24))
        .find_map(|q| tz.from_local_datetime(&(local + Duration::minutes(15 * q))).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| crate::metrics::period::day_start(tz, day))
}

/// How a check-in was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CheckInChannel {
    /// `POST /v1/campaigns/{id}/check-ins` (a link, the shop's page).
    Api,
    /// A keyword typed in the group.
    Chat,
}

/// A bonus granted with a check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reward {
    /// `streak_bonus`.
    pub kind: String,
    /// The streak day that earned it.
    pub day: u32,
    pub points: i64,
}

/// A check-in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckIn {
    pub id: uuid::Uuid,
    pub campaign_id: CampaignId,
    pub member_id: MemberId,
    pub group_id: Option<GroupId>,
    /// The check-in day (local, shifted by `day_starts_at`).
    pub day: NaiveDate,
    /// When it was made (for a makeup: when the makeup was made).
    pub at: DateTime<Utc>,
    pub makeup: bool,
    /// Consecutive days ending with this one (as of now: a makeup filling a
    /// gap lengthens the streaks after it).
    pub streak: i32,
    /// Points this check-in earned, bonuses included.
    pub points_awarded: i64,
    pub channel: CheckInChannel,
}

/// The answer to a check-in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckInResult {
    pub id: uuid::Uuid,
    pub campaign_id: CampaignId,
    pub member_id: MemberId,
    pub group_id: Option<GroupId>,
    pub day: NaiveDate,
    pub at: DateTime<Utc>,
    pub makeup: bool,
    pub streak: i32,
    /// Days checked in to this campaign, this one included.
    pub total_days: i32,
    pub points_awarded: i64,
    /// Streak bonuses granted by this check-in (a makeup may complete
    /// streaks of later days too).
    pub rewards: Vec<Reward>,
    /// Points a makeup cost.
    pub points_spent: i64,
    /// The member's balance afterwards.
    pub balance: i64,
}

/// `POST /v1/campaigns/{id}/check-ins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckIn {
    pub member_id: MemberId,
    /// The group it is made from (its timezone decides the day; it must be
    /// one the campaign targets).
    pub group_id: Option<GroupId>,
    /// When it happened (default now; not in the future, at most 48 hours
    /// back: a check-in an integration queued). Not with `makeup`.
    pub at: Option<DateTime<Utc>>,
    /// The missed day a makeup fills (with `makeup: true`).
    pub day: Option<NaiveDate>,
    /// A makeup check-in (补签) for `day`, paying the campaign's `cost_points`.
    #[serde(default)]
    pub makeup: bool,
}

/// How far back `at` may be.
pub const MAX_BACKDATE_HOURS: i64 = 48;

impl CreateCheckIn {
    /// Validates the shape (the day rules need the campaign: 409s).
    pub fn validate(&self, now: DateTime<Utc>) -> ApiResult<()> {
        let mut c = Checks::new();
        if self.makeup {
            if self.day.is_none() {
                c.fail("day", "required", "a makeup names the day it fills");
            }
            if self.at.is_some() {
                c.fail("at", "invalid", "a makeup is made now; give `day`");
            }
        } else if self.day.is_some() {
            c.fail("day", "invalid", "only a makeup names a day; a check-in's day comes from `at`");
        }
        if let Some(at) = self.at {
            if at > now + Duration::minutes(5) {
                c.fail("at", "invalid", "must not be in the future");
            } else if at < now - Duration::hours(MAX_BACKDATE_HOURS) {
                c.fail("at", "invalid", "must be within the last 48 hours");
            }
        }
        c.finish()
    }
}

/// `GET /v1/campaigns/{id}/check-ins`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckInQuery {
    pub member_id: Option<MemberId>,
    /// First check-in day (inclusive).
    pub from: Option<NaiveDate>,
    /// Last check-in day (inclusive).
    pub to: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// `GET /v1/members/{id}/check-ins`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// Default: the member's most recent check-in campaign.
    pub campaign_id: Option<CampaignId>,
    /// `YYYY-MM`; default: the current month of the workspace.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

/// A member's month of check-ins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Calendar {
    pub member_id: MemberId,
    pub campaign_id: Option<CampaignId>,
    /// `YYYY-MM`.
    pub month: String,
    /// One entry per day of the month.
    pub days: Vec<CalendarDay>,
    pub total_days: i32,
    /// The streak ending on the latest check-in day (0 when the member
    /// missed the day before today and has not checked in today).
    pub current_streak: i32,
    /// Days of this month filled by makeups.
    pub makeups: i64,
}

/// One day of a calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarDay {
    pub day: NaiveDate,
    pub checked_in: bool,
    pub makeup: bool,
    pub streak: Option<i32>,
    pub points_awarded: i64,
}

/// Parses `YYYY-MM` to its first day.
pub fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> NaiveTime {
        crate::clock::parse_hhmm(s).unwrap()
    }

    #[test]
    fn shanghai_midnight_splits_two_days() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let before = Utc.with_ymd_and_hms(2026, 12, 3, 15, 59, 30).unwrap(); // 23:59:30 local
        let after = Utc.with_ymd_and_hms(2026, 12, 3, 16, 0, 30).unwrap(); // 00:00:30 local
        assert_eq!(check_in_day(tz, t("00:00"), before), NaiveDate::from_ymd_opt(2026, 12, 3).unwrap());
        assert_eq!(check_in_day(tz, t("00:00"), after), NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
    }

    #[test]
    fn a_day_starting_at_four_keeps_the_small_hours_in_the_day_before() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let at_0359 = Utc.with_ymd_and_hms(2026, 12, 3, 19, 59, 0).unwrap(); // 4 Dec 03:59 local
        let at_0400 = Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
        assert_eq!(check_in_day(tz, t("04:00"), at_0359), NaiveDate::from_ymd_opt(2026, 12, 3).unwrap());
        assert_eq!(check_in_day(tz, t("04:00"), at_0400), NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        assert_eq!(day_begins(tz, t("04:00"), NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()), at_0400);
    }

    #[test]
    fn new_york_dst_days_are_one_check_in_day_each() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 14 Mar 2027 has 23 hours, 7 Nov 2027 has 25.
        for (y, m, d) in [(2027, 3, 14), (2027, 11, 7)] {
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let start = day_begins(ny, t("00:00"), day);
            let next = day_begins(ny, t("00:00"), day.succ_opt().unwrap());
            assert_eq!(check_in_day(ny, t("00:00"), start), day);
            assert_eq!(check_in_day(ny, t("00:00"), next - Duration::seconds(1)), day);
            assert_eq!(check_in_day(ny, t("00:00"), next), day.succ_opt().unwrap());
        }
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(parse_month("2026-12"), NaiveDate::from_ymd_opt(2026, 12, 1));
        for bad in ["2026-13", "2026-1", "26-12", "2026-12-01", "+026-12"] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }
}
