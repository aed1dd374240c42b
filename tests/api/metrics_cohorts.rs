//! Retention and lifecycle: the API's figures equal a straightforward
//! computation over the raw rows of a random history, for every cohort
//! kind, period, measure and mode; golden cases pin re-joins.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;
use uuid::Uuid;

use super::metrics::{day, day_start, drain, group_id, history, local, member_id, post_events, raw, Raw, ACTIVE};
use crate::helpers::TestApp;

type Span = (DateTime<Utc>, Option<DateTime<Utc>>);

/// Each member's local active days and stints in a scope, straight from raw rows.
struct Members {
    active: HashMap<Uuid, Vec<NaiveDate>>,
    stints: HashMap<Uuid, Vec<Span>>,
}

fn members(raw: &Raw, tz: Tz, groups: Option<&[Uuid]>) -> Members {
    let in_scope = |g: &Option<Uuid>| groups.is_none_or(|gs| g.is_some_and(|g| gs.contains(&g)));
    let mut active: HashMap<Uuid, Vec<NaiveDate>> = HashMap::new();
    for (kind, at, g, m) in &raw.events {
        if !raw.staff.contains(m) && in_scope(g) && ACTIVE.contains(&kind.as_str()) {
            active.entry(*m).or_default().push(local(tz, *at));
        }
    }
    for days in active.values_mut() {
        days.sort();
        days.dedup();
    }
    let mut stints: HashMap<Uuid, Vec<_>> = HashMap::new();
    for (m, g, j, l) in &raw.stints {
        if !raw.staff.contains(m) && in_scope(&Some(*g)) && *l != Some(*j) {
            stints.entry(*m).or_default().push((*j, *l));
        }
    }
    Members { active, stints }
}

#[derive(Clone, Copy, PartialEq)]
enum P {
    Day,
    Week,
    Month,
}

impl P {
    fn name(self) -> &'static str {
        match self {
            P::Day => "day",
            P::Week => "week",
            P::Month => "month",
        }
    }
    fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            P::Day => d,
            P::Week => d - Duration::days(d.weekday().num_days_from_monday() as i64),
            P::Month => NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap(),
        }
    }
    fn next(self, d: NaiveDate) -> NaiveDate {
        match self {
            P::Day => d + Duration::days(1),
            P::Week => d + Duration::days(7),
            P::Month => d.checked_add_months(chrono::Months::new(1)).unwrap(),
        }
    }
    fn nth(self, d: NaiveDate, k: usize) -> NaiveDate {
        (0..k).fold(d, |d, _| self.next(d))
    }
}

/// (start, size, values) per cohort, by the definitions of docs/metrics.md.
#[allow(clippy::too_many_arguments)]
fn expected_retention(
    m: &Members,
    tz: Tz,
    now: DateTime<Utc>,
    p: P,
    from: NaiveDate,
    to: NaiveDate,
    n: usize,
    by_join: bool,
    active: bool,
    on: bool,
) -> Vec<(String, i64, Vec<Option<i64>>)> {
    let today = local(tz, now);
    let mut starts = vec![p.start(from)];
    while p.next(*starts.last().unwrap()) <= to {
        starts.push(p.next(*starts.last().unwrap()));
    }
    let cohort_day = |id: &Uuid| -> Option<NaiveDate> {
        if by_join {
            m.stints.get(id).and_then(|s| s.iter().map(|x| x.0).min()).map(|t| local(tz, t))
        } else {
            m.active.get(id).and_then(|a| a.first().copied())
        }
    };
    let ids: HashSet<Uuid> = m.active.keys().chain(m.stints.keys()).copied().collect();
    let belongs = |id: &Uuid, end: NaiveDate| {
        let t = day_start(tz, end).min(now);
        m.stints.get(id).is_some_and(|s| s.iter().any(|&(j, l)| j < t && l.is_none_or(|l| l >= t)))
    };
    starts
        .iter()
        .map(|&s| {
            let cohort: Vec<(Uuid, NaiveDate)> =
                ids.iter().filter_map(|id| cohort_day(id).filter(|d| p.start(*d) == s).map(|d| (*id, d))).collect();
            let values = (0..n)
                .map(|k| {
                    let (lo, hi) = (p.nth(s, k), p.nth(s, k + 1));
                    if lo > today {
                        return None;
                    }
                    let kept = cohort.iter().filter(|(id, d)| match (active, on) {
                        (true, true) => m
                            .active
                            .get(id)
                            .is_some_and(|a| a.iter().any(|x| *x >= lo && *x < hi && *x >= *d && *x <= today)),
                        (true, false) => {
                            m.active.get(id).is_some_and(|a| a.iter().any(|x| *x >= lo.max(*d) && *x <= today))
                        }
                        (false, true) => belongs(id, hi),
                        (false, false) => {
                            (k..).take_while(|j| p.nth(s, *j) <= today).any(|j| belongs(id, p.nth(s, j + 1)))
                        }
                    });
                    Some(kept.count() as i64)
                })
                .collect();
            (s.to_string(), cohort.len() as i64, values)
        })
        .collect()
}

fn got_retention(body: &Value) -> Vec<(String, i64, Vec<Option<i64>>)> {
    body["cohorts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let values = c["values"].as_array().unwrap().iter().map(Value::as_i64).collect();
            (c["start"].as_str().unwrap().to_owned(), c["size"].as_i64().unwrap(), values)
        })
        .collect()
}

/// (start, new, returning, resurrecting, dormant) per period.
fn expected_lifecycle(m: &Members, tz: Tz, now: DateTime<Utc>, p: P, from: NaiveDate, to: NaiveDate) -> Vec<Value> {
    let today = local(tz, now);
    let mut s = p.start(from);
    let mut out = Vec::new();
    while s <= to {
        let prev = {
            let mut x = s - Duration::days(1);
            x = p.start(x);
            x
        };
        let next = p.next(s);
        let in_ =
            |a: &Vec<NaiveDate>, lo: NaiveDate, hi: NaiveDate| a.iter().any(|d| *d >= lo && *d < hi && *d <= today);
        let (mut new, mut ret, mut res, mut dormant) = (0, 0, 0, 0);
        for a in m.active.values() {
            let (now_, before) = (in_(a, s, next), in_(a, prev, s));
            if now_ && a[0] >= s {
                new += 1;
            } else if now_ && before {
                ret += 1;
            } else if now_ {
                res += 1;
            } else if before {
                dormant += 1;
            }
        }
        out.push(if s > today {
            json!([s.to_string(), null, null, null, null])
        } else {
            json!([s.to_string(), new, ret, res, dormant])
        });
        s = next;
    }
    out
}

fn got_lifecycle(body: &Value) -> Vec<Value> {
    body["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| json!([x["start"], x["new"], x["returning"], x["resurrecting"], x["dormant"]]))
        .collect()
}

#[tokio::test]
async fn retention_and_lifecycle_equal_the_raw_event_computation_on_random_histories() {
    let app = TestApp::spawn().await;
    let tz: Tz = "America/New_York".parse().unwrap();
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "America/New_York"})).await.status, StatusCode::OK);
    let events = history(23, tz, day("2026-08-25"), 87, 60, 3);
    let (first, late) = events.split_at(events.len() * 4 / 5);
    post_events(&app, first).await;
    drain(&app).await;
    post_events(&app, late).await;
    let staff = member_id(&app, 5).await;
    sqlx::query("UPDATE members SET is_staff = true WHERE id = $1").bind(staff).execute(&app.pool).await.unwrap();
    drain(&app).await;
    let raw = raw(&app).await;
    let now = app.clock.now();
    let g2 = group_id(&app, 2).await;
    let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
    let scopes = [
        ("", tz, None),
        (&format!("&group_id={g2}") as &str, tz, Some(vec![g2])),
        ("&tz=Asia/Shanghai", shanghai, None),
    ];
    let mut nontrivial = 0;
    for (scope, zone, groups) in &scopes {
        let m = members(&raw, *zone, groups.as_deref());
        for (p, from, to, n) in [
            (P::Day, day("2026-10-01"), day("2026-10-20"), 14),
            (P::Week, day("2026-08-27"), day("2026-10-31"), 12),
            (P::Month, day("2026-08-25"), day("2026-11-19"), 4),
        ] {
            for (cohort, measure, mode) in [
                ("join", "active", "on"),
                ("join", "active", "on_or_after"),
                ("join", "member", "on"),
                ("join", "member", "on_or_after"),
                ("first_activity", "active", "on"),
                ("first_activity", "member", "on_or_after"),
            ] {
                let url = format!(
                    "/v1/metrics/retention?from={from}&to={to}&period={}&periods={n}&cohort={cohort}&measure={measure}&mode={mode}{scope}",
                    p.name()
                );
                let r = app.get(&url).await;
                assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
                let want = expected_retention(
                    &m,
                    *zone,
                    now,
                    p,
                    from,
                    to,
                    n,
                    cohort == "join",
                    measure == "active",
                    mode == "on",
                );
                assert_eq!(got_retention(&r.body), want, "{url}");
                nontrivial += want.iter().flat_map(|c| &c.2[1..]).filter(|v| v.unwrap_or(0) > 0).count();
                // The average row: complete periods only, weighted by size.
                let avg = &r.body["average"];
                for k in 0..n {
                    let (mut sizes, mut values) = (0, 0);
                    for c in r.body["cohorts"].as_array().unwrap() {
                        if c["incomplete"][k] == false {
                            sizes += c["size"].as_i64().unwrap();
                            values += c["values"][k].as_i64().unwrap();
                        }
                    }
                    assert_eq!((avg["sizes"][k].as_i64(), avg["values"][k].as_i64()), (Some(sizes), Some(values)));
                }
            }
            let url = format!("/v1/metrics/lifecycle?from={from}&to={to}&period={}{scope}", p.name());
            let r = app.get(&url).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
            assert_eq!(got_lifecycle(&r.body), expected_lifecycle(&m, *zone, now, p, from, to), "{url}");
        }
    }
    assert!(nontrivial > 100, "the history is not trivial ({nontrivial})");
    let csv = app.get_text("/v1/metrics/retention?from=2026-09-07&to=2026-09-20&periods=3&format=csv").await;
    assert!(csv.starts_with("cohort,size,period_0,period_1,period_2\r\n2026-09-07,"), "{csv}");
    assert!(csv.contains("\r\naverage,,"), "{csv}");
}

#[tokio::test]
async fn golden_retention_rejoin_and_first_join() {
    let app = TestApp::spawn().await;
    // UTC workspace; now is 2026-11-20T02:00Z (a Friday; weeks start Monday).
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "UTC"})).await.status, StatusCode::OK);
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let e = |id: &str, kind: &str, at: &str, m: usize| super::metrics::ev(id.into(), kind, t(at), m, Some(1));
    post_events(
        &app,
        &[
            // m1 joins on Monday 2 Nov, leaves on the 4th, re-joins on the 12th.
            e("a1", "member_joined", "2026-11-02T08:00:00Z", 1),
            e("a2", "member_left", "2026-11-04T08:00:00Z", 1),
            e("a3", "member_joined", "2026-11-12T08:00:00Z", 1),
            // m2 joined before the period, re-joins inside it: not in any cohort.
            e("b1", "member_joined", "2026-10-20T08:00:00Z", 2),
            e("b2", "member_left", "2026-10-21T08:00:00Z", 2),
            e("b3", "member_joined", "2026-11-03T08:00:00Z", 2),
            // m3 joins on the 3rd and leaves exactly at the end of week 0.
            e("c1", "member_joined", "2026-11-03T08:00:00Z", 3),
            e("c2", "member_left", "2026-11-09T00:00:00Z", 3),
            // m4 joins and is active at exactly midnight starting week 1.
            e("d1", "member_joined", "2026-11-05T08:00:00Z", 4),
            e("d2", "message_sent", "2026-11-09T00:00:00Z", 4),
        ],
    )
    .await;
    drain(&app).await;
    let get = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            let r = app.get(&format!("/v1/metrics/retention?from=2026-11-02&to=2026-11-08&periods=3{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["cohorts"][0].clone()
        }
    };
    let c = get("&measure=member").await;
    assert_eq!(c["size"], 3, "m1, m3, m4 (m2 joined before)");
    // End of week 0 (9 Nov 00:00): m3 left exactly then (still in until that instant), m4 in, m1 out.
    // End of week 1: m1 back, m4 in. Week 2 (now): m1, m4.
    assert_eq!(c["values"], json!([2, 2, 2]));
    assert_eq!(c["incomplete"], json!([false, false, true]));
    let c = get("&measure=active").await;
    assert_eq!(c["values"], json!([0, 1, 0]), "midnight belongs to the day it starts");
    let c = get("&measure=active&mode=on_or_after").await;
    assert_eq!(c["values"], json!([1, 1, 0]));
    let r = app.get("/v1/metrics/retention?periods=0").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/v1/metrics/retention?period=year").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}
