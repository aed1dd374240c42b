use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn spec(json: serde_json::Value) -> Timing {
    serde_json::from_value::<TimingSpec>(json).unwrap().compile("timing").unwrap()
}

/// Every slot in `[from, until)`.
fn slots(t: &Timing, tz: Tz, from: &str, until: &str) -> Vec<String> {
    let (mut after, until) = (utc(from) - Duration::seconds(1), utc(until));
    let mut out = vec![];
    while let Some(next) = t.next_after(tz, after).filter(|n| *n < until) {
        out.push(next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        after = next;
    }
    out
}

#[test]
fn daily_in_shanghai_fires_at_the_same_utc_time_every_day() {
    let t = spec(serde_json::json!({"kind": "daily", "at": "09:00"}));
    assert_eq!(
        slots(&t, chrono_tz::Asia::Shanghai, "2026-11-22T00:00:00Z", "2026-11-25T00:00:00Z"),
        ["2026-11-22T01:00:00Z", "2026-11-23T01:00:00Z", "2026-11-24T01:00:00Z"]
    );
}

#[test]
fn spring_forward_gap_fires_once_shifted_by_the_gap() {
    let t = spec(serde_json::json!({"kind": "daily", "at": "02:30"}));
    // New York, 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 fires at 03:30 EDT.
    assert_eq!(
        slots(&t, chrono_tz::America::New_York, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        ["2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"]
    );
    // Berlin, 2026-03-29 02:00 CET -> 03:00 CEST.
    assert_eq!(
        slots(&t, chrono_tz::Europe::Berlin, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z"),
        ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]
    );
    // Sydney, 2026-10-04 02:00 AEST -> 03:00 AEDT.
    assert_eq!(
        slots(&t, chrono_tz::Australia::Sydney, "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z"),
        ["2026-10-02T16:30:00Z", "2026-10-03T16:30:00Z", "2026-10-04T15:30:00Z"]
    );
    let local = |s: &str| s.parse::<DateTime<Utc>>().unwrap().with_timezone(&chrono_tz::Australia::Sydney).to_string();
    assert_eq!(local("2026-10-03T16:30:00Z"), "2026-10-04 03:30:00 AEDT");
}

#[test]
fn fall_back_ambiguity_fires_once_at_the_first_occurrence() {
    let t = spec(serde_json::json!({"kind": "daily", "at": "01:30"}));
    // New York, 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
    assert_eq!(
        slots(&t, chrono_tz::America::New_York, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
        ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
    let t = spec(serde_json::json!({"kind": "daily", "at": "02:30"}));
    // Berlin, 2026-10-25 03:00 CEST -> 02:00 CET.
    assert_eq!(
        slots(&t, chrono_tz::Europe::Berlin, "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z"),
        ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    // Sydney, 2026-04-05 03:00 AEDT -> 02:00 AEST.
    assert_eq!(
        slots(&t, chrono_tz::Australia::Sydney, "2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z"),
        ["2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"]
    );
}

#[test]
fn cron_hours_across_fall_back_each_fire_once() {
    // Every 30 minutes between 00:00 and 02:59 on the New York fall-back night.
    let t = spec(serde_json::json!({"kind": "cron", "expr": "0,30 0-2 * * *"}));
    assert_eq!(
        slots(&t, chrono_tz::America::New_York, "2026-11-01T04:00:00Z", "2026-11-01T09:00:00Z"),
        [
            "2026-11-01T04:00:00Z", // 00:00 EDT
            "2026-11-01T04:30:00Z",
            "2026-11-01T05:00:00Z", // 01:00 EDT, the first 01:00
            "2026-11-01T05:30:00Z",
            "2026-11-01T07:00:00Z", // 02:00 EST
            "2026-11-01T07:30:00Z",
        ]
    );
}

#[test]
fn weekly_and_monthly_rules() {
    let t = spec(serde_json::json!({"kind": "weekly", "days": ["fri", "mon", "mon"], "at": "20:00"}));
    assert_eq!(
        slots(&t, chrono_tz::Asia::Shanghai, "2026-11-23T00:00:00Z", "2026-12-01T00:00:00Z"),
        ["2026-11-23T12:00:00Z", "2026-11-27T12:00:00Z", "2026-11-30T12:00:00Z"]
    );
    let t = spec(serde_json::json!({"kind": "monthly", "day": 31, "at": "10:00"}));
    assert_eq!(
        slots(&t, chrono_tz::Asia::Shanghai, "2027-01-01T00:00:00Z", "2027-05-01T00:00:00Z"),
        ["2027-01-31T02:00:00Z", "2027-02-28T02:00:00Z", "2027-03-31T02:00:00Z", "2027-04-30T02:00:00Z"]
    );
}

#[test]
fn once_fires_once_in_local_time() {
    let t = spec(serde_json::json!({"kind": "once", "at": "2026-12-01T10:00"}));
    assert_eq!(
        slots(&t, chrono_tz::Europe::Berlin, "2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ["2026-12-01T09:00:00Z"]
    );
    assert_eq!(t.next_after(chrono_tz::Europe::Berlin, utc("2026-12-01T09:00:00Z")), None);
}

#[test]
fn relative_days_are_calendar_days_at_the_same_local_time() {
    let ny = chrono_tz::America::New_York;
    let t = spec(serde_json::json!({"kind": "after_join", "days": 1}));
    // Joined 2026-03-07 10:00 EST; one calendar day later is 10:00 EDT (23 hours).
    assert_eq!(t.slot_for(ny, utc("2026-03-07T15:00:00Z")), Some(utc("2026-03-08T14:00:00Z")));
    let t = spec(serde_json::json!({"kind": "after_join", "days": 1, "at": "10:00"}));
    assert_eq!(t.slot_for(ny, utc("2026-10-31T23:59:00Z")), Some(utc("2026-11-01T15:00:00Z")));
    let t = spec(serde_json::json!({"kind": "after_group_created", "hours": 24}));
    assert_eq!(t.slot_for(ny, utc("2026-03-07T15:00:00Z")), Some(utc("2026-03-08T15:00:00Z")));
    assert_eq!(t.anchor(), Some(Anchor::GroupCreated));
    let t = spec(serde_json::json!({"kind": "after_join", "minutes": 90}));
    assert_eq!(t.slot_for(ny, utc("2026-03-07T15:00:00Z")), Some(utc("2026-03-07T16:30:00Z")));
    assert_eq!(t.next_after(ny, utc("2026-03-07T15:00:00Z")), None);
}

#[test]
fn quiet_hours_move_a_slot_to_the_end_of_the_window() {
    let tz = chrono_tz::Asia::Shanghai;
    let q = Quiet { start: parse_hhmm("22:00").unwrap(), end: parse_hhmm("08:00").unwrap() };
    // 23:00 local -> 08:00 the next day; 03:00 local -> 08:00 the same day; 09:00 untouched.
    assert_eq!(q.apply(tz, utc("2026-11-23T15:00:00Z")), utc("2026-11-24T00:00:00Z"));
    assert_eq!(q.apply(tz, utc("2026-11-23T19:00:00Z")), utc("2026-11-24T00:00:00Z"));
    assert_eq!(q.apply(tz, utc("2026-11-24T01:00:00Z")), utc("2026-11-24T01:00:00Z"));
    assert_eq!(q.apply(tz, utc("2026-11-24T00:00:00Z")), utc("2026-11-24T00:00:00Z"));
    let day = Quiet { start: parse_hhmm("12:00").unwrap(), end: parse_hhmm("14:00").unwrap() };
    assert_eq!(day.apply(tz, utc("2026-11-24T04:30:00Z")), utc("2026-11-24T06:00:00Z"));
    assert_eq!(day.apply(tz, utc("2026-11-24T06:00:00Z")), utc("2026-11-24T06:00:00Z"));
}

#[test]
fn jitter_is_deterministic_and_bounded() {
    let (a, b, m) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::nil());
    let slot = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    assert_eq!(jitter(0, a, b, m, slot), Duration::zero());
    let j = jitter(300, a, b, m, slot);
    assert_eq!(j, jitter(300, a, b, m, slot));
    let spread: std::collections::HashSet<i64> =
        (0..50).map(|i| jitter(300, a, Uuid::from_u128(i), m, slot).num_seconds()).collect();
    assert!(spread.iter().all(|s| (0..=300).contains(s)) && spread.len() > 10, "{spread:?}");
}

#[test]
fn bad_timings_name_the_field() {
    for (json, field) in [
        (serde_json::json!({"kind": "daily", "at": "24:00"}), "timing.at"),
        (serde_json::json!({"kind": "daily", "at": "9:00"}), "timing.at"),
        (serde_json::json!({"kind": "weekly", "days": [], "at": "09:00"}), "timing.days"),
        (serde_json::json!({"kind": "monthly", "day": 0, "at": "09:00"}), "timing.day"),
        (serde_json::json!({"kind": "cron", "expr": "* *"}), "timing.expr"),
        (serde_json::json!({"kind": "after_join", "days": 1, "hours": 2}), "timing"),
        (serde_json::json!({"kind": "after_join"}), "timing"),
        (serde_json::json!({"kind": "after_join", "hours": 2, "at": "10:00"}), "timing.at"),
        (serde_json::json!({"kind": "after_join", "days": 400}), "timing"),
        (serde_json::json!({"kind": "once", "at": "2026-12-01 10:00"}), "timing.at"),
    ] {
        let spec: TimingSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(spec.compile("timing").unwrap_err().field, field, "{json}");
    }
    assert!(serde_json::from_value::<TimingSpec>(serde_json::json!({"kind": "daily", "at": "09:00", "x": 1})).is_err());
    assert!(serde_json::from_value::<TimingSpec>(serde_json::json!({"kind": "hourly"})).is_err());
    let d = NaiveDate::from_ymd_opt(2028, 2, 10).unwrap();
    assert_eq!(last_day_of_month(d), 29);
}
