//! Step timing rules and the local-time arithmetic behind them. Pure code:
//! every function takes the timezone and the instants it needs.
//!
//! DST policy: a local time that does not exist (spring forward) fires once,
//! shifted forward by the gap (02:30 in a 02:00→03:00 gap fires at 03:30);
//! an ambiguous one (fall back) fires once, at its first occurrence.
//! "N days after" means N calendar days in the group's timezone, at the same
//! local time (or at `at`). A monthly day past the end of a short month fires
//! on the month's last day.

use chrono::Offset as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use super::cron::Cron;
use crate::error::FieldError;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Weekday)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A step's timing as the API takes it (times are local `HH:MM`). Its
/// schema is written out in [`timing_schema`], with the rules of
/// [`TimingSpec::compile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimingSpec {
    /// Every day at `at`.
    Daily { at: String },
    /// On the given weekdays at `at`.
    Weekly { days: Vec<Day>, at: String },
    /// On day `day` (1-31; the last day in shorter months) at `at`.
    Monthly {
        #[serde(deserialize_with = "crate::validate::de::uint32")]
        day: u32,
        at: String,
    },
    /// A five-field cron expression in local time.
    Cron { expr: String },
    /// Per member: exactly one of `minutes`, `hours`, `days` after the member joins; `at` only with `days`.
    AfterJoin {
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        minutes: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        hours: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        days: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// Per group: the same offsets after the group was created.
    AfterGroupCreated {
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        minutes: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        hours: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::validate::de::opt_uint32"
        )]
        days: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// Once, at a local date-time `YYYY-MM-DDTHH:MM`.
    Once { at: String },
}

impl utoipa::PartialSchema for TimingSpec {
    fn schema() -> RefOr<Schema> {
        timing_schema()
    }
}

impl ToSchema for TimingSpec {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push((Day::name().into_owned(), <Day as utoipa::PartialSchema>::schema()));
    }
}

/// The schema of [`TimingSpec`]: one closed object per kind, and per offset
/// unit for the relative kinds (exactly one of `minutes`, `hours`, `days`;
/// the others absent or `null`).
fn timing_schema() -> RefOr<Schema> {
    use crate::validate::schema::{local_date_time, matching, reference, HHMM};
    let int = |min: u32, max: u32, nullable: bool| -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(crate::validate::schema::typed(Type::Integer, nullable))
            .minimum(Some(f64::from(min)))
            .maximum(Some(f64::from(max)))
            .build()
            .into()
    };
    let null = || -> RefOr<Schema> { ObjectBuilder::new().schema_type(Type::Null).build().into() };
    let at = || -> RefOr<Schema> { matching(HHMM, false).into() };
    let variant = |kind: &str, description: &str, props: Vec<(&str, RefOr<Schema>, bool)>| {
        let mut o = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .property("kind", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([kind])))
            .required("kind");
        for (name, schema, required) in props {
            o = o.property(name, schema);
            if required {
                o = o.required(name);
            }
        }
        o.build()
    };
    let days = ArrayBuilder::new().items(reference::<Day>()).min_items(Some(1)).build().into();
    let cron = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(super::cron::MAX_CHARS))
        .pattern(Some(super::cron::pattern()))
        .build()
        .into();
    let mut one_of = OneOfBuilder::new()
        .description(Some("A step's timing: times are local `HH:MM` in each group's timezone."))
        .item(variant("daily", "Every day at `at`.", vec![("at", at(), true)]))
        .item(variant("weekly", "On the given weekdays at `at`.", vec![("days", days, true), ("at", at(), true)]))
        .item(variant(
            "monthly",
            "On day `day` (1-31; the last day in shorter months) at `at`.",
            vec![("day", int(1, 31, false), true), ("at", at(), true)],
        ))
        .item(variant(
            "cron",
            "A five-field cron expression in local time: `*`, values, ranges (a backwards range wraps \
             around), steps and lists; three-letter names for months and weekdays.",
            vec![("expr", cron, true)],
        ))
        .item(variant(
            "once",
            "Once, at a local date-time `YYYY-MM-DDTHH:MM`.",
            vec![("at", matching(&local_date_time(), false).into(), true)],
        ));
    for (kind, anchor) in [("after_join", "the member joins"), ("after_group_created", "the group was created")] {
        let opt_at = || -> RefOr<Schema> { matching(HHMM, true).into() };
        one_of = one_of
            .item(variant(
                kind,
                &format!("`minutes` (at most 366 days) after {anchor}."),
                vec![
                    ("minutes", int(0, MAX_MINUTES, false), true),
                    ("hours", null(), false),
                    ("days", null(), false),
                    ("at", null(), false),
                ],
            ))
            .item(variant(
                kind,
                &format!("`hours` (at most 366 days) after {anchor}."),
                vec![
                    ("minutes", null(), false),
                    ("hours", int(0, MAX_MINUTES / 60, false), true),
                    ("days", null(), false),
                    ("at", null(), false),
                ],
            ))
            .item(variant(
                kind,
                &format!("`days` calendar days after {anchor}, at its local time or at `at`."),
                vec![
                    ("minutes", null(), false),
                    ("hours", null(), false),
                    ("days", int(0, 366, false), true),
                    ("at", opt_at(), false),
                ],
            ));
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// An offset from an anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// An exact duration.
    Exact(Duration),
    /// Calendar days in local time, at a given local time or the anchor's.
    Days(u32, Option<NaiveTime>),
}

/// What a relative step counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    MemberJoined,
    GroupCreated,
}

/// A validated timing rule.
#[derive(Debug, Clone)]
pub enum Timing {
    Daily(NaiveTime),
    Weekly(Vec<Weekday>, NaiveTime),
    Monthly(u32, NaiveTime),
    Cron(Box<Cron>),
    After(Anchor, Offset),
    Once(NaiveDateTime),
}

/// Parses `HH:MM` (00:00-23:59).
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    crate::clock::parse_hhmm(s)
}

/// Longest relative offset: 366 days.
const MAX_MINUTES: u32 = 366 * 24 * 60;

fn offset(
    field: &str,
    minutes: Option<u32>,
    hours: Option<u32>,
    days: Option<u32>,
    at: &Option<String>,
) -> Result<Offset, FieldError> {
    let at_field = format!("{field}.at");
    let at = match at {
        None => None,
        Some(s) => Some(parse_hhmm(s).ok_or_else(|| FieldError::new(&at_field, "invalid", "must be HH:MM"))?),
    };
    if [minutes, hours, days].iter().filter(|x| x.is_some()).count() != 1 {
        return Err(FieldError::new(field, "invalid", "give exactly one of minutes, hours, days"));
    }
    if at.is_some() && days.is_none() {
        return Err(FieldError::new(at_field, "invalid", "`at` goes with `days` only"));
    }
    let too_far = || FieldError::new(field, "out_of_range", "at most 366 days");
    match (minutes, hours, days) {
        (Some(m), _, _) if m <= MAX_MINUTES => Ok(Offset::Exact(Duration::minutes(m.into()))),
        (_, Some(h), _) if h <= MAX_MINUTES / 60 => Ok(Offset::Exact(Duration::hours(h.into()))),
        (_, _, Some(d)) if d <= 366 => Ok(Offset::Days(d, at)),
        _ => Err(too_far()),
    }
}

impl TimingSpec {
    /// Validates into a [`Timing`]; errors name fields under `field`.
    pub fn compile(&self, field: &str) -> Result<Timing, FieldError> {
        let at = |s: &str| {
            parse_hhmm(s)
                .ok_or_else(|| FieldError::new(format!("{field}.at"), "invalid", "must be HH:MM (00:00-23:59)"))
        };
        Ok(match self {
            TimingSpec::Daily { at: a } => Timing::Daily(at(a)?),
            TimingSpec::Weekly { days, at: a } => {
                if days.is_empty() {
                    return Err(FieldError::new(format!("{field}.days"), "required", "give at least one weekday"));
                }
                let mut w: Vec<Weekday> = days.iter().map(|d| d.weekday()).collect();
                w.sort_by_key(|d| d.num_days_from_monday());
                w.dedup();
                Timing::Weekly(w, at(a)?)
            }
            TimingSpec::Monthly { day, at: a } => {
                if !(1..=31).contains(day) {
                    return Err(FieldError::new(format!("{field}.day"), "out_of_range", "must be 1-31"));
                }
                Timing::Monthly(*day, at(a)?)
            }
            TimingSpec::Cron { expr } => Timing::Cron(Box::new(
                Cron::parse(expr).map_err(|e| FieldError::new(format!("{field}.expr"), "invalid", e))?,
            )),
            TimingSpec::AfterJoin { minutes, hours, days, at } => {
                Timing::After(Anchor::MemberJoined, offset(field, *minutes, *hours, *days, at)?)
            }
            TimingSpec::AfterGroupCreated { minutes, hours, days, at } => {
                Timing::After(Anchor::GroupCreated, offset(field, *minutes, *hours, *days, at)?)
            }
            TimingSpec::Once { at } => Timing::Once(crate::clock::parse_local(at).ok_or_else(|| {
                FieldError::new(format!("{field}.at"), "invalid", "must be a local date-time YYYY-MM-DDTHH:MM")
            })?),
        })
    }
}

/// The UTC instant of a local date-time under the DST policy above.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            // In a gap: read the wall time with the offset in force before
            // the gap, which lands it after the gap, shifted by its length.
            let before = tz
                .from_local_datetime(&local.checked_sub_signed(Duration::hours(12)).unwrap_or(local))
                .earliest()
                .map(|t| t.offset().fix())
                .unwrap_or_else(|| Utc.fix());
            Utc.from_utc_datetime(&(local - before))
        }
    }
}

fn last_day_of_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|n| n.pred_opt()).map(|n| n.day()).unwrap_or(28)
}

/// How far ahead a recurring rule is searched (a rule that never fires in
/// this span, e.g. `0 0 31 2 *`, has no next slot).
const SEARCH_DAYS: i64 = 5 * 366;

impl Timing {
    /// The anchor of a relative step, `None` for recurring and one-off steps.
    pub fn anchor(&self) -> Option<Anchor> {
        match self {
            Timing::After(a, _) => Some(*a),
            _ => None,
        }
    }

    fn times_on(&self, date: NaiveDate) -> Vec<NaiveTime> {
        match self {
            Timing::Daily(t) => vec![*t],
            Timing::Weekly(days, t) if days.contains(&date.weekday()) => vec![*t],
            Timing::Monthly(day, t) if date.day() == (*day).min(last_day_of_month(date)) => vec![*t],
            Timing::Cron(c) if c.matches_date(date) => {
                c.times().filter_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0)).collect()
            }
            _ => vec![],
        }
    }

    /// The first slot strictly after `after` of a recurring or one-off rule
    /// (`None` for relative rules and exhausted ones).
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::After(..) => None,
            Timing::Once(local) => Some(resolve(tz, *local)).filter(|t| *t > after),
            _ => {
                let start = after.with_timezone(&tz).date_naive().pred_opt()?;
                (0..SEARCH_DAYS).filter_map(|i| start.checked_add_signed(Duration::days(i))).find_map(|date| {
                    self.times_on(date).into_iter().map(|t| resolve(tz, date.and_time(t))).find(|c| *c > after)
                })
            }
        }
    }

    /// The slot of a relative rule for an anchor instant.
    pub fn slot_for(&self, tz: Tz, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::After(_, Offset::Exact(d)) => anchor.checked_add_signed(*d),
            Timing::After(_, Offset::Days(n, at)) => {
                let local = anchor.with_timezone(&tz).naive_local();
                let date = local.date().checked_add_signed(Duration::days((*n).into()))?;
                Some(resolve(tz, date.and_time(at.unwrap_or(local.time()))))
            }
            _ => None,
        }
    }
}

/// Quiet hours: `[start, end)` in local time, wrapping midnight when start > end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiet {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Quiet {
    /// `t`, or the end of the quiet window it falls in.
    pub fn apply(&self, tz: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&tz).naive_local();
        let time = local.time();
        let (inside, next_day) = if self.start < self.end {
            (time >= self.start && time < self.end, false)
        } else {
            (time >= self.start || time < self.end, time >= self.start)
        };
        if !inside {
            return t;
        }
        let date = if next_day { local.date().succ_opt().unwrap_or(local.date()) } else { local.date() };
        resolve(tz, date.and_time(self.end)).max(t)
    }
}

/// The deterministic jitter (0..=max seconds) of one slot, so the preview
/// shows exactly when a slot will fire.
pub fn jitter(max_seconds: u32, step: Uuid, group: Uuid, member: Uuid, slot: DateTime<Utc>) -> Duration {
    if max_seconds == 0 {
        return Duration::zero();
    }
    let mut h = Sha256::new();
    h.update(step.as_bytes());
    h.update(group.as_bytes());
    h.update(member.as_bytes());
    h.update(slot.timestamp().to_be_bytes());
    let d = h.finalize();
    let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    Duration::seconds((n % (u64::from(max_seconds) + 1)) as i64)
}

#[cfg(test)]
#[path = "timing_tests.rs"]
mod tests;
