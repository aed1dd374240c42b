//! Funnels: the API equals a brute-force search over the raw events (every
//! ordered choice of events, not the greedy walk the code uses) on a random
//! history, with filters, `hold=campaign`, breakdown by group and another
//! timezone; golden cases pin a second step 1 inside the window.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::metrics::{day, day_start, drain, ev, group_id, post_events, Lcg};
use crate::helpers::TestApp;

#[derive(Debug, Clone, sqlx::FromRow)]
struct E {
    member_id: Uuid,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    id: Uuid,
    group_id: Option<Uuid>,
    campaign_code: Option<String>,
    sku: Option<String>,
}

/// A step as the oracle reads it: type, required campaign code, required sku.
type S<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

fn history(seed: u64, start: DateTime<Utc>, days: i64, members: usize) -> Vec<Value> {
    let mut r = Lcg(seed);
    let mut out = Vec::new();
    for m in 0..members {
        let mut t = start + Duration::seconds(r.below(days as u64 * 86_400) as i64);
        let g = r.below(3) as usize;
        out.push(ev(format!("j{m}"), "member_joined", t, m, Some(g)));
        for k in 0..r.below(12) {
            // Mostly forward in time, sometimes simultaneous, sometimes back.
            t = match r.below(10) {
                0 => t,
                1 => t - Duration::hours(r.below(30) as i64),
                _ => t + Duration::minutes(r.below(60 * 40) as i64),
            };
            let kinds = ["message_sent", "checked_in", "link_clicked", "order_placed", "order_paid"];
            let kind = kinds[r.below(5) as usize];
            let group = if r.chance(10) { None } else { Some(if r.chance(80) { g } else { r.below(3) as usize }) };
            let mut e = ev(format!("e{m}-{k}"), kind, t, m, group);
            if kind.starts_with("order_") {
                e["order_id"] = json!(format!("o{m}-{}", r.below(3)));
            }
            if r.chance(50) && kind != "message_sent" {
                e["campaign_code"] = json!(["camp-a", "camp-b"][r.below(2) as usize]);
            }
            if r.chance(30) {
                let sku = ["A1", "B2"][r.below(2) as usize];
                e["properties"] = json!({ "sku": sku });
            }
            out.push(e);
        }
    }
    out
}

/// The longest chain from `k` on: distinct events matching the steps in
/// order, non-decreasing times, within the deadline — by trying every choice.
/// Returns the chain's times, the lexicographically earliest among the longest.
fn search(
    evs: &[&E],
    steps: &[S],
    k: usize,
    prev: DateTime<Utc>,
    deadline: DateTime<Utc>,
    used: &mut Vec<usize>,
    campaign: Option<&str>,
) -> Vec<DateTime<Utc>> {
    let mut best: Vec<DateTime<Utc>> = Vec::new();
    if k == steps.len() {
        return best;
    }
    let (kind, code, sku) = steps[k];
    for (i, e) in evs.iter().enumerate() {
        let ok = e.kind == kind
            && !used.contains(&i)
            && e.occurred_at >= prev
            && e.occurred_at <= deadline
            && code.is_none_or(|c| e.campaign_code.as_deref() == Some(c))
            && sku.is_none_or(|s| e.sku.as_deref() == Some(s))
            && campaign.is_none_or(|c| e.campaign_code.as_deref() == Some(c));
        if !ok {
            continue;
        }
        used.push(i);
        let mut chain = vec![e.occurred_at];
        chain.extend(search(evs, steps, k + 1, e.occurred_at, deadline, used, campaign));
        used.pop();
        if chain.len() > best.len() || (chain.len() == best.len() && chain < best) {
            best = chain;
        }
    }
    best
}

/// Per step: (count, median seconds from the previous step).
fn expected(
    events: &[E],
    steps: &[S],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    window: Duration,
    hold: bool,
    group: Option<Option<Uuid>>,
) -> Vec<(i64, Option<f64>)> {
    let mut by_member: HashMap<Uuid, Vec<&E>> = HashMap::new();
    for e in events {
        by_member.entry(e.member_id).or_default().push(e);
    }
    let mut chains: Vec<Vec<DateTime<Utc>>> = Vec::new();
    for evs in by_member.values_mut() {
        evs.sort_by_key(|e| (e.occurred_at, e.id));
        let mut best: Vec<DateTime<Utc>> = Vec::new();
        for (i, e1) in evs.iter().enumerate() {
            let (kind, code, sku) = steps[0];
            let first = e1.kind == kind
                && e1.occurred_at >= lo
                && e1.occurred_at < hi
                && code.is_none_or(|c| e1.campaign_code.as_deref() == Some(c))
                && sku.is_none_or(|s| e1.sku.as_deref() == Some(s))
                && group.is_none_or(|g| e1.group_id == g)
                && (!hold || e1.campaign_code.is_some());
            if !first {
                continue;
            }
            let mut used = vec![i];
            let campaign = if hold { e1.campaign_code.as_deref() } else { None };
            let mut chain = vec![e1.occurred_at];
            chain.extend(search(evs, steps, 1, e1.occurred_at, e1.occurred_at + window, &mut used, campaign));
            // The earliest attempt among those getting furthest.
            if chain.len() > best.len() {
                best = chain;
            }
        }
        if !best.is_empty() {
            chains.push(best);
        }
    }
    (0..steps.len())
        .map(|k| {
            let reached: Vec<&Vec<DateTime<Utc>>> = chains.iter().filter(|c| c.len() > k).collect();
            let mut gaps: Vec<f64> =
                if k == 0 { vec![] } else { reached.iter().map(|c| (c[k] - c[k - 1]).num_seconds() as f64).collect() };
            gaps.sort_by(f64::total_cmp);
            let n = gaps.len();
            let median = (n > 0).then(|| if n % 2 == 1 { gaps[n / 2] } else { (gaps[n / 2 - 1] + gaps[n / 2]) / 2.0 });
            (reached.len() as i64, median)
        })
        .collect()
}

fn got(steps: &Value) -> Vec<(i64, Option<f64>)> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["count"].as_i64().unwrap(), s["median_seconds_from_previous"].as_f64()))
        .collect()
}

#[tokio::test]
async fn funnels_equal_a_brute_force_search_over_the_raw_events() {
    let app = TestApp::spawn().await;
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "UTC"})).await.status, StatusCode::OK);
    // camp-a is a campaign (its events carry its id), camp-b only a code.
    let r = app
        .post("/v1/campaigns", json!({"name": "A", "scene": "conversion", "kind": "coupon", "tracking_code": "camp-a"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let camp_a = r.body["id"].as_str().unwrap().to_owned();
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    // Every other event arrives after the first ones were rolled up: the
    // days and months they land in are recomputed, not built once.
    let events = history(5, start, 40, 200);
    let even: Vec<Value> = events.iter().step_by(2).cloned().collect();
    let odd: Vec<Value> = events.iter().skip(1).step_by(2).cloned().collect();
    for wave in [even, odd] {
        post_events(&app, &wave).await;
        drain(&app).await;
    }
    let events: Vec<E> = sqlx::query_as(
        "SELECT member_id, type, occurred_at, id, group_id, campaign_code, properties->>'sku' AS sku FROM events
         WHERE workspace_id = $1 AND member_id IS NOT NULL",
    )
    .bind(Uuid::parse_str(&app.workspace_id).unwrap())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let g1 = group_id(&app, 1).await;
    let in_g1: Vec<E> = events.iter().filter(|e| e.group_id == Some(g1)).cloned().collect();
    let utc = chrono_tz::UTC;
    let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
    let bounds = |tz: Tz, a: NaiveDate, b: NaiveDate| (day_start(tz, a), day_start(tz, b + Duration::days(1)));
    let (from, to) = (day("2026-10-05"), day("2026-11-03"));
    let onboarding: &[S] = &[("member_joined", None, None), ("message_sent", None, None), ("checked_in", None, None)];
    let purchase: &[S] = &[("link_clicked", None, None), ("order_placed", None, None), ("order_paid", None, None)];
    let purchase_a: &[S] =
        &[("link_clicked", Some("camp-a"), None), ("order_placed", None, None), ("order_paid", None, None)];
    let four: &[S] = &[
        ("link_clicked", Some("camp-a"), None),
        ("message_sent", None, None),
        ("order_placed", None, Some("A1")),
        ("order_paid", None, None),
    ];
    type Case<'a> = (String, &'a [E], &'a [S<'a>], Tz, Duration, bool);
    let cases: Vec<Case> = vec![
        (String::new(), &events, onboarding, utc, Duration::days(7), false),
        ("&funnel=onboarding&window=36h".into(), &events, onboarding, utc, Duration::hours(36), false),
        ("&steps=link_clicked,order_placed,order_paid&window=3d".into(), &events, purchase, utc, Duration::days(3), false),
        ("&steps=link_clicked,order_placed,order_paid&hold=campaign".into(), &events, purchase, utc, Duration::days(7), true),
        (
            "&steps=link_clicked[campaign_code=camp-a],message_sent,order_placed[properties.sku=A1],order_paid&window=10d".into(),
            &events,
            four,
            utc,
            Duration::days(10),
            false,
        ),
        (format!("&group_id={g1}&steps=link_clicked,order_placed,order_paid"), &in_g1, purchase, utc, Duration::days(7), false),
        (format!("&campaign_id={camp_a}&funnel=purchase"), &events, purchase_a, utc, Duration::days(7), false),
        (format!("&steps=link_clicked[campaign_id={camp_a}],order_placed,order_paid"), &events, purchase_a, utc, Duration::days(7), false),
        ("&tz=Asia/Shanghai&funnel=onboarding&window=2d".into(), &events, onboarding, shanghai, Duration::days(2), false),
    ];
    for (query, evs, steps, tz, window, hold) in cases {
        let url = format!("/v1/metrics/funnel?from={from}&to={to}{query}");
        let r = app.get(&url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        let (lo, hi) = bounds(tz, from, to);
        let want = expected(evs, steps, lo, hi, window, hold, None);
        assert_eq!(got(&r.body["steps"]), want, "{url}");
        assert!(want[0].0 > 20 && want[1].0 >= 3, "the history is not trivial: {want:?} ({url})");
        assert_eq!(r.body["steps"][0]["rate_from_previous"], 1.0);
        let rate = want[1].0 as f64 / want[0].0 as f64;
        assert!((r.body["steps"][1]["rate_overall"].as_f64().unwrap() - rate).abs() < 1e-12);
    }
    // Breakdown by the group of step 1.
    let r = app
        .get(&format!("/v1/metrics/funnel?from={from}&to={to}&steps=link_clicked,order_placed,order_paid&by=group"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (lo, hi) = bounds(utc, from, to);
    let rows = r.body["groups"].as_array().unwrap();
    assert!(rows.len() >= 3, "{rows:?}");
    for row in rows {
        let g = row["group_id"].as_str().map(|g| Uuid::parse_str(g).unwrap());
        let want = expected(&events, purchase, lo, hi, Duration::days(7), false, Some(g));
        assert_eq!(got(&row["steps"]), want, "group {g:?}");
    }
    // The timelines rebuilt in a timezone whose clocks go back inside the
    // range (2026-11-01 has 25 hours in New York), with a staff member who
    // started the funnel left out unless `include_staff=true`.
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "America/New_York"})).await.status, StatusCode::OK);
    drain(&app).await;
    let ny: Tz = "America/New_York".parse().unwrap();
    let (lo, hi) = bounds(ny, from, to);
    let staff = events
        .iter()
        .find(|e| e.kind == "member_joined" && e.occurred_at >= lo && e.occurred_at < hi)
        .map(|e| e.member_id)
        .unwrap();
    sqlx::query("UPDATE members SET is_staff = true WHERE id = $1").bind(staff).execute(&app.pool).await.unwrap();
    let counted: Vec<E> = events.iter().filter(|e| e.member_id != staff).cloned().collect();
    for (query, steps, hold) in [
        ("&funnel=onboarding", onboarding, false),
        ("&steps=link_clicked,order_placed,order_paid&hold=campaign", purchase, true),
    ] {
        let url = format!("/v1/metrics/funnel?from={from}&to={to}{query}");
        let r = app.get(&url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        assert_eq!(got(&r.body["steps"]), expected(&counted, steps, lo, hi, Duration::days(7), hold, None), "{url}");
        let r = app.get(&format!("{url}&include_staff=true")).await;
        let all = expected(&events, steps, lo, hi, Duration::days(7), hold, None);
        assert_eq!(got(&r.body["steps"]), all, "{url}&include_staff=true");
    }
    let r = app.get(&format!("/v1/metrics/funnel?from={from}&to={to}&include_staff=true")).await;
    assert_eq!(
        r.body["steps"][0]["count"].as_i64().unwrap(),
        expected(&counted, onboarding, lo, hi, Duration::days(7), false, None)[0].0 + 1,
        "the staff member started the funnel"
    );
    let csv = app.get_text(&format!("/v1/metrics/funnel?from={from}&to={to}&funnel=purchase&format=csv")).await;
    assert!(csv.starts_with("group_id,step,type,count,"), "{csv}");
    assert!(csv.contains("\r\nall,1,\"link_clicked {\"\"any_campaign\"\":true}\","), "{csv}");
}

#[tokio::test]
async fn golden_funnel_second_step_one_inside_the_window_and_bad_parameters() {
    let app = TestApp::spawn().await;
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    post_events(
        &app,
        &[
            // m1: clicks on the 1st and the 6th, pays on the 10th: only the second click's 7 days cover it.
            ev("a1".into(), "link_clicked", t("2026-11-01T10:00:00Z"), 1, Some(1)),
            ev("a2".into(), "link_clicked", t("2026-11-06T10:00:00Z"), 1, Some(1)),
            json!({"id": "a3", "type": "order_paid", "occurred_at": "2026-11-10T10:00:00Z", "order_id": "o1",
                   "member": {"platform": "generic", "external_id": "m1"}}),
            // m2: click and payment at the same instant.
            ev("b1".into(), "link_clicked", t("2026-11-02T10:00:00Z"), 2, Some(1)),
            json!({"id": "b2", "type": "order_paid", "occurred_at": "2026-11-02T10:00:00Z", "order_id": "o2",
                   "member": {"platform": "generic", "external_id": "m2"}}),
            // m3: pays 7 days and 1 second after clicking.
            ev("c1".into(), "link_clicked", t("2026-11-03T10:00:00Z"), 3, Some(1)),
            json!({"id": "c2", "type": "order_paid", "occurred_at": "2026-11-10T10:00:01Z", "order_id": "o3",
                   "member": {"platform": "generic", "external_id": "m3"}}),
        ],
    )
    .await;
    let r = app.get("/v1/metrics/funnel?from=2026-11-01&to=2026-11-07&steps=link_clicked,order_paid&tz=UTC").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["steps"][0]["count"], 3);
    assert_eq!(r.body["steps"][1]["count"], 2);
    // m1: 4 days; m2: 0 s.
    assert_eq!(r.body["steps"][1]["median_seconds_from_previous"], 2.0 * 86_400.0);
    assert_eq!(r.body["window_seconds"], 7 * 86_400);
    assert_eq!(r.body["incomplete"], false);
    // Step 1 on the 1st only: the first click alone is in the period.
    let r = app.get("/v1/metrics/funnel?from=2026-11-01&to=2026-11-01&steps=link_clicked,order_paid&tz=UTC").await;
    assert_eq!((r.body["steps"][0]["count"].as_i64(), r.body["steps"][1]["count"].as_i64()), (Some(1), Some(0)));
    for bad in [
        "steps=link_clicked",
        "steps=link_clicked,bogus",
        "steps=link_clicked[x=1],order_paid",
        "steps=link_clicked,order_paid&funnel=purchase",
        "funnel=nope",
        "window=0d",
        "window=1y",
        "hold=group",
        "by=tier",
    ] {
        let r = app.get(&format!("/v1/metrics/funnel?{bad}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "validation_failed", "{bad}");
    }
}
