//! Metrics: every figure from the rollups equals a straightforward
//! computation over the raw events (random histories), plus golden cases
//! pinning the edge cases.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;
use uuid::Uuid;

use crate::helpers::TestApp;

/// A small deterministic generator (no dependency, same history every run).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn day_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    shequn::metrics::period::day_start(tz, d)
}

pub fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

pub async fn drain(app: &TestApp) {
    shequn::metrics::store::rollup::drain(&app.pool).await.expect("rollup");
}

pub async fn post_events(app: &TestApp, batch: &[Value]) {
    for chunk in batch.chunks(500) {
        let r = app.post("/v1/events", Value::Array(chunk.to_vec())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let bad: Vec<&Value> =
            r.body["results"].as_array().unwrap().iter().filter(|x| x["status"] == "rejected").collect();
        assert!(bad.is_empty(), "{bad:?}");
    }
}

pub fn ev(id: String, kind: &str, at: DateTime<Utc>, member: usize, group: Option<usize>) -> Value {
    let mut e = json!({"id": id, "type": kind, "occurred_at": at.to_rfc3339(),
                       "member": {"platform": "generic", "external_id": format!("m{member}")}});
    if let Some(g) = group {
        e["group"] = json!({"platform": "telegram", "external_id": format!("-100{g}")});
    }
    e
}

/// A random history over `[start, start + days)`: joins, leaves, re-joins,
/// activity (some exactly at local midnight, some simultaneous), orders.
pub fn history(seed: u64, tz: Tz, start: NaiveDate, days: i64, members: usize, groups: usize) -> Vec<Value> {
    let mut r = Lcg(seed);
    let mut out = Vec::new();
    let mut n = 0;
    let id = |n: &mut usize| {
        *n += 1;
        format!("ev-{seed}-{n}")
    };
    let span =
        |r: &mut Lcg, d: i64| day_start(tz, start + Duration::days(d)) + Duration::seconds(r.below(86_400) as i64);
    for m in 0..members {
        for g in 0..groups {
            if !r.chance(60) {
                continue;
            }
            let d0 = r.below(days as u64) as i64 / 2;
            let mut t = span(&mut r, d0);
            for _ in 0..=r.below(2) {
                out.push(ev(id(&mut n), "member_joined", t, m, Some(g)));
                if r.chance(40) {
                    t += Duration::hours(1 + r.below(24 * 20) as i64);
                    out.push(ev(id(&mut n), "member_left", t, m, Some(g)));
                    t += Duration::hours(1 + r.below(24 * 5) as i64);
                } else {
                    break;
                }
            }
        }
        let active_days = r.below(days as u64 / 2);
        for _ in 0..active_days {
            let d = r.below(days as u64) as i64;
            let g = if r.chance(10) { None } else { Some(r.below(groups as u64) as usize) };
            let at = if r.chance(10) { day_start(tz, start + Duration::days(d)) } else { span(&mut r, d) };
            let kinds = ["message_sent", "message_sent", "message_sent", "checked_in", "link_clicked", "custom.poll"];
            let kind = kinds[r.below(kinds.len() as u64) as usize];
            out.push(ev(id(&mut n), kind, at, m, g));
            if r.chance(20) {
                out.push(ev(id(&mut n), "message_sent", at, m, g));
            }
        }
    }
    out
}

/// What the raw rows say.
type StintRow = (Uuid, Uuid, DateTime<Utc>, Option<DateTime<Utc>>);

pub struct Raw {
    pub events: Vec<(String, DateTime<Utc>, Option<Uuid>, Uuid)>,
    pub stints: Vec<StintRow>,
    pub staff: HashSet<Uuid>,
}

pub async fn raw(app: &TestApp) -> Raw {
    let ws = Uuid::parse_str(&app.workspace_id).unwrap();
    let events = sqlx::query_as(
        "SELECT type, occurred_at, group_id, member_id FROM events WHERE workspace_id = $1 AND member_id IS NOT NULL",
    )
    .bind(ws)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let stints =
        sqlx::query_as("SELECT member_id, group_id, joined_at, left_at FROM memberships WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let staff: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM members WHERE workspace_id = $1 AND (is_staff OR is_bot)")
            .bind(ws)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    Raw { events, stints, staff: staff.into_iter().collect() }
}

pub const ACTIVE: [&str; 6] =
    ["message_sent", "checked_in", "link_clicked", "coupon_claimed", "order_placed", "order_paid"];

/// Activity by the definitions of docs/metrics.md, straight from raw rows.
fn expected_activity(
    raw: &Raw,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    groups: Option<&[Uuid]>,
    staff: bool,
) -> Vec<[i64; 6]> {
    let counted = |m: &Uuid| staff || !raw.staff.contains(m);
    let in_scope = |g: &Option<Uuid>| groups.is_none_or(|gs| g.is_some_and(|g| gs.contains(&g)));
    let mut active: HashMap<NaiveDate, HashSet<Uuid>> = HashMap::new();
    let mut messages: HashMap<NaiveDate, i64> = HashMap::new();
    for (kind, at, g, m) in &raw.events {
        if !counted(m) || !in_scope(g) {
            continue;
        }
        let d = local(tz, *at);
        if ACTIVE.contains(&kind.as_str()) {
            active.entry(d).or_default().insert(*m);
        }
        if kind == "message_sent" {
            *messages.entry(d).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        let window = |w: i64| {
            (0..w)
                .flat_map(|k| active.get(&(d - Duration::days(k))).into_iter().flatten())
                .collect::<HashSet<_>>()
                .len() as i64
        };
        let (lo, hi) = (day_start(tz, d), day_start(tz, d + Duration::days(1)));
        let belonged: HashSet<Uuid> = raw
            .stints
            .iter()
            .filter(|(m, g, j, l)| counted(m) && in_scope(&Some(*g)) && *j < hi && l.is_none_or(|l| l > lo && l != *j))
            .map(|s| s.0)
            .collect();
        let today = active.get(&d).cloned().unwrap_or_default();
        let both = today.intersection(&belonged).count() as i64;
        out.push([
            today.len() as i64,
            window(7),
            window(30),
            messages.get(&d).copied().unwrap_or(0),
            belonged.len() as i64,
            both,
        ]);
        d += Duration::days(1);
    }
    out
}

fn got_activity(body: &Value) -> Vec<[i64; 6]> {
    body["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["dau"].is_null())
        .map(|d| {
            let f = |k: &str| d[k].as_i64().unwrap_or_else(|| panic!("{k} missing in {d}"));
            [f("dau"), f("wau"), f("mau"), f("messages"), f("members"), f("active_members")]
        })
        .collect()
}

pub async fn group_id(app: &TestApp, g: usize) -> Uuid {
    sqlx::query_scalar("SELECT id FROM groups WHERE external_id = $1")
        .bind(format!("-100{g}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub async fn member_id(app: &TestApp, m: usize) -> Uuid {
    sqlx::query_scalar("SELECT member_id FROM member_identities WHERE external_id = $1")
        .bind(format!("m{m}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn activity_from_the_rollups_equals_the_raw_event_computation_on_random_histories() {
    let app = TestApp::spawn().await;
    let tz: Tz = "America/New_York".parse().unwrap();
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "America/New_York"})).await.status, StatusCode::OK);
    // 2026-10-10 .. 2026-11-19 spans the fall-back day (2026-11-01, 25 h); now is 2026-11-19 21:00 local.
    let start = day("2026-10-10");
    let events = history(7, tz, start, 41, 40, 3);
    let (first, late) = events.split_at(events.len() * 3 / 4);
    post_events(&app, first).await;
    drain(&app).await;
    // Late events (occurring long before), then a redelivery of a batch.
    post_events(&app, late).await;
    post_events(&app, &first[..300]).await;
    let staff = member_id(&app, 3).await;
    sqlx::query("UPDATE members SET is_staff = true WHERE id = $1").bind(staff).execute(&app.pool).await.unwrap();
    drain(&app).await;

    let raw = raw(&app).await;
    let (from, to, today) = (day("2026-10-20"), day("2026-11-20"), day("2026-11-19"));
    let g1 = group_id(&app, 1).await;
    let g2 = group_id(&app, 2).await;
    // A layer of two groups: the union of their day sets.
    let layer = app.post("/v1/layers", json!({"name": "two", "selector": {"group_ids": [g1, g2]}})).await.id();
    for (query, groups, staff, zone) in [
        ("", None, false, tz),
        ("&include_staff=true", None, true, tz),
        (&format!("&group_id={g1}") as &str, Some(vec![g1]), false, tz),
        (&format!("&layer_id={layer}&include_staff=true"), Some(vec![g1, g2]), true, tz),
        ("&tz=Asia/Shanghai", None, false, "Asia/Shanghai".parse().unwrap()),
    ] {
        let r = app.get(&format!("/v1/metrics/activity?from={from}&to={to}{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let zone_today = local(zone, app.clock.now());
        let want = expected_activity(&raw, zone, from, zone_today.min(to), groups.as_deref(), staff);
        assert_eq!(got_activity(&r.body), want, "query {query}");
        assert!(want.iter().map(|d| d[0]).sum::<i64>() > 50, "the history is not trivial");
        assert_eq!(r.body["pending"], false);
        let days = r.body["days"].as_array().unwrap();
        assert_eq!(days.len(), 32);
        let last = &days[31];
        if zone == tz {
            assert_eq!((last["dau"].is_null(), last["incomplete"].as_bool()), (true, Some(true)), "the future is null");
            assert_eq!(days[30]["incomplete"], true, "today is incomplete");
            assert_eq!(days[29]["incomplete"], false);
            assert_eq!(days[30]["date"], today.to_string());
        }
    }
    // Stints changed through the API after the last pass: the changed groups
    // are read from `memberships` (their packed rows are stale) until the
    // worker repacks them — the same answers before and after. A member
    // with no event (no member number yet) joins, a seated one leaves.
    let newcomer = app.post("/v1/members", json!({"display_name": "Newcomer"})).await.id();
    let joined = app
        .post(&format!("/v1/groups/{g1}/members"), json!({"member_id": newcomer, "joined_at": "2026-10-25T12:00:00Z"}))
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    let seated: Uuid = sqlx::query_scalar(
        "SELECT s.member_id FROM memberships s JOIN members m ON m.id = s.member_id
         WHERE s.group_id = $1 AND s.left_at IS NULL AND s.joined_at < '2026-10-21' AND NOT m.is_staff LIMIT 1",
    )
    .bind(g1)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let left = app.delete(&format!("/v1/groups/{g1}/members/{seated}?left_at=2026-11-02T15:00:00Z")).await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    let raw_now = super::metrics::raw(&app).await;
    for repacked in [false, true] {
        let dirty: i64 =
            sqlx::query_scalar("SELECT count(*) FROM metric_dirty_stints").fetch_one(&app.pool).await.unwrap();
        assert_eq!(dirty > 0, !repacked, "the changed group waits for a repack until the pass");
        for (query, groups) in [("", None), (&format!("&group_id={g1}") as &str, Some(vec![g1]))] {
            let r = app.get(&format!("/v1/metrics/activity?from={from}&to={to}{query}")).await;
            let want = expected_activity(&raw_now, tz, from, today, groups.as_deref(), false);
            assert_eq!(got_activity(&r.body), want, "query {query}, repacked {repacked}");
        }
        drain(&app).await;
    }
    let raw = raw_now;
    // Breakdown by group and by tier over the period.
    sqlx::query("UPDATE groups SET tier = 'vip' WHERE external_id = '-1000'").execute(&app.pool).await.unwrap();
    sqlx::query("UPDATE groups SET tier = 'basic' WHERE external_id = '-1001'").execute(&app.pool).await.unwrap();
    let tiers: HashMap<Uuid, Option<String>> =
        sqlx::query_as("SELECT id, tier FROM groups").fetch_all(&app.pool).await.unwrap().into_iter().collect();
    // In the workspace timezone (from the day sets) and in another (from member-day rows).
    let paris: Tz = "Europe/Paris".parse().unwrap();
    for (by, tz, zone) in [("group", tz, ""), ("tier", tz, ""), ("group", paris, "&tz=Europe/Paris")] {
        let (lo, hi) = (day_start(tz, from), day_start(tz, to + Duration::days(1)));
        let key = |g: Option<Uuid>| -> String {
            match (by, g) {
                ("group", Some(g)) => g.to_string(),
                ("tier", Some(g)) => tiers[&g].clone().unwrap_or_else(|| "none".into()),
                _ => "none".into(),
            }
        };
        type Acc = (HashSet<Uuid>, HashSet<Uuid>, i64);
        let mut want: HashMap<String, Acc> = HashMap::new();
        for (m, g, j, l) in &raw.stints {
            if !raw.staff.contains(m) && *j < hi && l.is_none_or(|l| l > lo && l != *j) {
                want.entry(key(Some(*g))).or_default().0.insert(*m);
            }
        }
        for (kind, at, g, m) in &raw.events {
            let d = local(tz, *at);
            if raw.staff.contains(m) || d < from || d > to {
                continue;
            }
            let row = want.entry(key(*g)).or_default();
            if ACTIVE.contains(&kind.as_str()) {
                row.1.insert(*m);
            }
            if kind == "message_sent" {
                row.2 += 1;
            }
        }
        // Rows with nothing in them (only inactive events, no stint) are left out.
        want.retain(|_, (members, active, messages)| !members.is_empty() || !active.is_empty() || *messages > 0);
        let r = app.get(&format!("/v1/metrics/activity?from={from}&to={to}&by={by}{zone}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let rows = r.body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{by}{zone}: {rows:?}");
        for row in rows {
            let (members, active, messages) = &want[row["key"].as_str().unwrap()];
            let both = members.intersection(active).count();
            assert_eq!(row["members"].as_u64(), Some(members.len() as u64), "{by}{zone} {row}");
            assert_eq!(row["active_members"].as_u64(), Some(active.len() as u64), "{by}{zone} {row}");
            assert_eq!(row["messages"].as_i64(), Some(*messages), "{by}{zone} {row}");
            let rate = row["active_rate"].as_f64();
            assert_eq!(rate, (!members.is_empty()).then(|| both as f64 / members.len() as f64), "{by}{zone} {row}");
        }
    }
    // A timezone change rebuilds every day from the raw events in the new zone.
    let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "Asia/Shanghai"})).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/metrics/activity?from={from}&to={to}")).await.body["pending"], true);
    drain(&app).await;
    let r = app.get(&format!("/v1/metrics/activity?from={from}&to={to}")).await;
    assert_eq!(r.body["pending"], false);
    let want = expected_activity(&raw, shanghai, from, local(shanghai, app.clock.now()), None, false);
    assert_eq!(got_activity(&r.body), want, "after the rebuild");
}

/// Joins (some invited), leaves, orders (some campaign-coded, some in USD,
/// refunded once, twice or without amount) and campaign link clicks.
pub fn commerce_history(seed: u64, start: DateTime<Utc>, days: i64, members: usize) -> Vec<Value> {
    let mut r = Lcg(seed);
    let mut out = Vec::new();
    let at = |r: &mut Lcg| start + Duration::seconds(r.below(days as u64 * 86_400) as i64);
    let cap = |t: DateTime<Utc>| t.min(start + Duration::days(days + 4));
    for m in 0..members {
        let joined = at(&mut r);
        let mut j = ev(format!("j{m}"), "member_joined", joined, m, Some(m % 3));
        if m > 0 && r.chance(50) {
            j["inviter"] = json!({"platform": "generic", "external_id": format!("m{}", r.below(m as u64))});
        }
        out.push(j);
        if r.chance(30) {
            out.push(ev(
                format!("l{m}"),
                "member_left",
                cap(joined + Duration::hours(r.below(24 * 15) as i64)),
                m,
                Some(m % 3),
            ));
        }
        for k in 0..r.below(4) {
            let mut c = ev(format!("c{m}-{k}"), "link_clicked", at(&mut r), m, Some(m % 3));
            c["campaign_code"] = json!(["camp-a", "camp-b"][r.below(2) as usize]);
            out.push(c);
        }
        for k in 0..r.below(4) {
            let order = format!("o{m}-{k}");
            let paid = at(&mut r);
            let mut o = ev(format!("p{m}-{k}"), "order_paid", paid, m, Some(m % 3));
            o["order_id"] = json!(order);
            o["amount"] = json!(100 + r.below(10_000));
            o["currency"] = json!(if r.chance(10) { "USD" } else { "CNY" });
            if r.chance(20) {
                o["campaign_code"] = json!("camp-b");
            }
            out.push(o);
            for x in 0..r.below(3) {
                if !r.chance(40) {
                    continue;
                }
                let mut f = ev(
                    format!("r{m}-{k}-{x}"),
                    "order_refunded",
                    cap(paid + Duration::hours(r.below(200) as i64)),
                    m,
                    None,
                );
                f["order_id"] = json!(order);
                if r.chance(70) {
                    f["amount"] = json!(r.below(20_000));
                    f["currency"] = json!("CNY");
                }
                out.push(f);
            }
        }
    }
    out
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct RawEvent {
    id: Uuid,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    member_id: Option<Uuid>,
    group_id: Option<Uuid>,
    campaign_id: Option<Uuid>,
    order_id: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
}

/// How [`expected_commerce`] breaks down and whom it leaves out.
struct CommerceCase<'a> {
    window: Duration,
    by_group: bool,
    excluded: &'a HashSet<Uuid>,
}

/// Commerce totals and by-campaign (or by-group) rows straight from the raw events:
/// (key, gmv, paid, refunds, orders, refunded orders, buyers, repeat buyers).
fn expected_commerce(
    events: &[RawEvent],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    case: &CommerceCase,
) -> HashMap<String, [i64; 7]> {
    let window = case.window;
    let within = |t: DateTime<Utc>| lo <= t && t < hi;
    let pays: HashMap<&str, &RawEvent> = events
        .iter()
        .filter(|e| e.member_id.is_none_or(|m| !case.excluded.contains(&m)))
        .filter(|e| e.kind == "order_paid" && e.currency.as_deref().is_none_or(|c| c == "CNY"))
        .map(|e| (e.order_id.as_deref().unwrap(), e))
        .collect();
    let mut first_refund: HashMap<&str, &RawEvent> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "order_refunded") {
        let slot = first_refund.entry(e.order_id.as_deref().unwrap()).or_insert(e);
        if (e.occurred_at, e.id) < (slot.occurred_at, slot.id) {
            *slot = e;
        }
    }
    let campaign_of = |p: &RawEvent| -> String {
        if case.by_group {
            return p.group_id.map_or("none".into(), |g| g.to_string());
        }
        if let Some(c) = p.campaign_id {
            return c.to_string();
        }
        events
            .iter()
            .filter(|e| e.kind == "link_clicked" && e.campaign_id.is_some() && e.member_id == p.member_id)
            .filter(|e| e.occurred_at <= p.occurred_at && e.occurred_at >= p.occurred_at - window)
            .max_by_key(|e| (e.occurred_at, e.id))
            .map(|e| e.campaign_id.unwrap().to_string())
            .unwrap_or_else(|| "organic".into())
    };
    let mut out: HashMap<String, [i64; 7]> = HashMap::new();
    let mut buys: HashMap<String, HashMap<Uuid, i64>> = HashMap::new();
    for (order, p) in &pays {
        let paid = p.amount.unwrap_or(0);
        let refund =
            first_refund.get(order).filter(|r| within(r.occurred_at)).map(|r| r.amount.unwrap_or(paid).min(paid));
        if !within(p.occurred_at) && refund.is_none() {
            continue;
        }
        for key in ["total".to_owned(), campaign_of(p)] {
            let row = out.entry(key.clone()).or_default();
            if within(p.occurred_at) {
                row[1] += paid;
                row[3] += 1;
                *buys.entry(key.clone()).or_default().entry(p.member_id.unwrap()).or_default() += 1;
            }
            if let Some(x) = refund {
                row[2] += x;
                row[4] += 1;
            }
            row[0] = row[1] - row[2];
        }
    }
    for (key, b) in buys {
        let row = out.entry(key).or_default();
        row[5] = b.len() as i64;
        row[6] = b.values().filter(|n| **n >= 2).count() as i64;
    }
    out
}

fn got_figures(f: &Value) -> [i64; 7] {
    let g = |k: &str| f[k].as_i64().unwrap_or_else(|| panic!("{k} in {f}"));
    let buyers = g("buyers");
    let repeat = (f["repurchase_rate"].as_f64().unwrap_or(0.0) * buyers as f64).round() as i64;
    [g("gmv"), g("paid"), g("refunds"), g("orders"), g("refunded_orders"), buyers, repeat]
}

#[tokio::test]
async fn commerce_and_growth_equal_the_raw_event_computation_on_random_histories() {
    let app = TestApp::spawn().await;
    for code in ["camp-a", "camp-b"] {
        let r = app
            .post(
                "/v1/campaigns",
                json!({"name": code, "scene": "conversion", "kind": "coupon", "tracking_code": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let events = commerce_history(11, start, 45, 150);
    let (clicks, events): (Vec<Value>, Vec<Value>) = events.into_iter().partition(|e| e["type"] == "link_clicked");
    let (refunds, events): (Vec<Value>, Vec<Value>) = events.into_iter().partition(|e| e["type"] == "order_refunded");
    let (early, late) = events.split_at(events.len() / 2);
    post_events(&app, late).await;
    drain(&app).await;
    post_events(&app, early).await;
    post_events(&app, &late[..late.len() / 2]).await;
    drain(&app).await;
    // The clicks arrive after the orders they attribute were rolled up (in
    // two batches, so some re-attribute orders attributed by the first).
    let (first_clicks, later_clicks) = clicks.split_at(clicks.len() / 2);
    post_events(&app, later_clicks).await;
    drain(&app).await;
    post_events(&app, first_clicks).await;
    drain(&app).await;
    // Refunds come days after their payments were rolled up.
    post_events(&app, &refunds).await;
    drain(&app).await;

    let ws = Uuid::parse_str(&app.workspace_id).unwrap();
    let read_raw = async || -> Vec<RawEvent> {
        sqlx::query_as(
            "SELECT id, type, occurred_at, member_id, group_id, campaign_id, order_id, amount, currency FROM events
             WHERE workspace_id = $1",
        )
        .bind(ws)
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let raw = read_raw().await;
    // A late click the day before an organic payment, on a day with nothing
    // else to roll up: the payment's day must be repacked with its new campaign.
    let organic = raw
        .iter()
        .filter(|p| p.kind == "order_paid" && p.campaign_id.is_none() && p.currency.as_deref() == Some("CNY"))
        .filter(|p| p.occurred_at >= start + Duration::days(20) && p.occurred_at < start + Duration::days(30))
        .find(|p| {
            !raw.iter().any(|k| {
                k.kind == "link_clicked"
                    && k.member_id == p.member_id
                    && k.occurred_at <= p.occurred_at
                    && k.occurred_at >= p.occurred_at - Duration::days(7)
            })
        })
        .expect("an organic payment without clicks before it");
    let external: String =
        sqlx::query_scalar("SELECT external_id FROM member_identities WHERE member_id = $1 AND platform = 'generic'")
            .bind(organic.member_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut click = ev("late-click".into(), "link_clicked", organic.occurred_at - Duration::days(1), 0, None);
    click["member"]["external_id"] = json!(external);
    click["campaign_code"] = json!("camp-a");
    post_events(&app, &[click]).await;
    drain(&app).await;
    let raw = read_raw().await;
    let tz: Tz = "Asia/Shanghai".parse().unwrap();
    let (from, to) = (day("2026-10-10"), day("2026-11-05"));
    let (lo, hi) = (day_start(tz, from), day_start(tz, to + Duration::days(1)));
    let nobody = HashSet::new();
    let case = |days: i64, by_group: bool| CommerceCase { window: Duration::days(days), by_group, excluded: &nobody };
    let want = expected_commerce(&raw, lo, hi, &case(7, false));
    let r = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&by=campaign")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["pending"], false);
    assert_eq!(got_figures(&r.body["total"]), want["total"]);
    assert!(want["total"][4] > 3 && want["total"][3] > 50, "refunds and orders happened: {:?}", want["total"]);
    // Another attribution window (searched per request, not kept by the rollup).
    let want_3 = expected_commerce(&raw, lo, hi, &case(3, false));
    assert_ne!(want_3, want, "the window changes the attribution");
    let r_3 = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&by=campaign&attribution_days=3")).await;
    // By group (the payment's group).
    let want_groups = expected_commerce(&raw, lo, hi, &case(7, true));
    let r_groups = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&by=group")).await;
    for (want, r) in [(&want, &r), (&want_3, &r_3), (&want_groups, &r_groups)] {
        let rows = r.body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len() - 1, "{rows:?}");
        for row in rows {
            assert_eq!(got_figures(row), want[row["key"].as_str().unwrap()], "row {}", row["key"]);
        }
    }
    let other_currency = raw
        .iter()
        .filter(|e| e.kind == "order_paid" && e.currency.as_deref().is_some_and(|c| c != "CNY"))
        .filter(|e| lo <= e.occurred_at && e.occurred_at < hi)
        .count();
    assert!(other_currency > 0);
    assert_eq!(r.body["other_currency_orders"], other_currency, "orders paid in the period in another currency");
    // ARPU's denominator: distinct members with an active event in the period.
    let active: HashSet<Uuid> = raw
        .iter()
        .filter(|e| ACTIVE.contains(&e.kind.as_str()) && lo <= e.occurred_at && e.occurred_at < hi)
        .filter_map(|e| e.member_id)
        .collect();
    assert_eq!(r.body["active_members"].as_u64(), Some(active.len() as u64));
    assert!(active.len() > 20);
    let arpu = want["total"][0] as f64 / active.len() as f64;
    assert!((r.body["arpu"].as_f64().unwrap() - arpu).abs() < 1e-9);
    // A group scope is that group's row.
    let group = r_groups.body["rows"][0]["key"].as_str().unwrap().to_owned();
    let scoped = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&group_id={group}")).await;
    assert_eq!(got_figures(&scoped.body["total"]), want_groups[&group]);
    // Per local day: orders and buyers paid that day, GMV net of that day's refunds.
    let mut day = from;
    for got in r.body["days"].as_array().unwrap() {
        let (s, e) = (day_start(tz, day), day_start(tz, day + Duration::days(1)));
        let w = expected_commerce(&raw, s, e, &case(7, false)).get("total").copied().unwrap_or_default();
        assert_eq!(got["date"], day.to_string());
        let f = |k: &str| got[k].as_i64();
        assert_eq!((f("gmv"), f("orders"), f("buyers")), (Some(w[0]), Some(w[3]), Some(w[5])), "{day}");
        day += Duration::days(1);
    }
    // A buyer becoming staff leaves the report (their payments and refunds).
    let buyer = raw
        .iter()
        .find(|e| {
            e.kind == "order_paid" && lo <= e.occurred_at && e.occurred_at < hi && e.currency.as_deref() == Some("CNY")
        })
        .and_then(|e| e.member_id);
    let staff: HashSet<Uuid> = buyer.into_iter().collect();
    sqlx::query("UPDATE members SET is_staff = true WHERE id = ANY($1)")
        .bind(staff.iter().copied().collect::<Vec<_>>())
        .execute(&app.pool)
        .await
        .unwrap();
    let without = expected_commerce(&raw, lo, hi, &CommerceCase { excluded: &staff, ..case(7, false) });
    assert_ne!(without["total"], want["total"]);
    let r_staff = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&by=campaign")).await;
    assert_eq!(got_figures(&r_staff.body["total"]), without["total"]);
    let r_all = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&include_staff=true")).await;
    assert_eq!(got_figures(&r_all.body["total"]), want["total"]);
    sqlx::query("UPDATE members SET is_staff = false").execute(&app.pool).await.unwrap();
    // The campaign scope is that campaign's row.
    let camp_b: Uuid = sqlx::query_scalar("SELECT id FROM campaigns WHERE tracking_code = 'camp-b'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let scoped = app.get(&format!("/v1/metrics/commerce?from={from}&to={to}&campaign_id={camp_b}")).await;
    assert_eq!(got_figures(&scoped.body["total"]), want[&camp_b.to_string()]);

    // Growth from the stints.
    let stints: Vec<StintRow> =
        sqlx::query_as("SELECT member_id, group_id, joined_at, left_at FROM memberships WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let g = app.get(&format!("/v1/metrics/growth?from={from}&to={to}")).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let mut d = from;
    for got in g.body["days"].as_array().unwrap() {
        let (s, e) = (day_start(tz, d), day_start(tz, d + Duration::days(1)));
        let joins = stints.iter().filter(|x| s <= x.2 && x.2 < e).count() as i64;
        let leaves = stints.iter().filter(|x| x.3.is_some_and(|l| s <= l && l < e)).count() as i64;
        let end = stints.iter().filter(|x| x.2 < e && x.3.is_none_or(|l| l >= e)).collect::<Vec<_>>();
        let distinct = end.iter().map(|x| x.0).collect::<HashSet<_>>().len() as i64;
        let want = [joins, leaves, joins - leaves, end.len() as i64, distinct];
        let f = |k: &str| got[k].as_i64().unwrap();
        assert_eq!([f("joins"), f("leaves"), f("net"), f("members_end"), f("distinct_members_end")], want, "{d}");
        d += Duration::days(1);
    }
    assert!(g.body["referrals"]["invited_joins"].as_i64().unwrap() > 5, "{}", g.body["referrals"]);
    // CSV of the same report.
    let text = app.get_text(&format!("/v1/metrics/commerce?from={from}&to={to}&by=campaign&format=csv")).await;
    let total_line = text.lines().nth(1).unwrap();
    assert_eq!(total_line.split(',').nth(1).unwrap(), want["total"][0].to_string(), "{text}");
}

#[tokio::test]
async fn golden_midnight_boundaries_late_events_pending_and_tenancy() {
    let app = TestApp::spawn().await;
    // Asia/Shanghai: 2026-11-11 00:00 local = 2026-11-10T16:00Z.
    let midnight = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 16, 0, 0).unwrap();
    let mut qr_join = ev("join".into(), "member_joined", midnight(10), 1, Some(0));
    qr_join["join_source"] = json!("qr_code");
    let mut batch = vec![
        qr_join,
        ev("msg-at-midnight".into(), "message_sent", midnight(10), 1, Some(0)),
        ev("left-at-midnight".into(), "member_left", midnight(12), 1, Some(0)),
        ev("join2".into(), "member_joined", midnight(10) + Duration::hours(3), 2, Some(0)),
        // Joins and leaves are not activity; a custom event is not in the default active set.
        ev("custom".into(), "custom.poll", midnight(11), 2, Some(0)),
    ];
    // Two simultaneous messages count one active member, two messages.
    batch.push(ev("sim-1".into(), "message_sent", midnight(11) + Duration::hours(2), 2, Some(0)));
    batch.push(ev("sim-2".into(), "message_sent", midnight(11) + Duration::hours(2), 2, Some(0)));
    post_events(&app, &batch).await;
    drain(&app).await;
    let q = "/v1/metrics/activity?from=2026-11-10&to=2026-11-13";
    let r = app.get(q).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let days = r.body["days"].as_array().unwrap();
    let col = |k: &str| days.iter().map(|d| d[k].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(col("dau"), [0, 1, 1, 0], "the message at 00:00 belongs to the new day");
    assert_eq!(col("messages"), [0, 1, 2, 0]);
    assert_eq!(col("members"), [0, 2, 2, 1], "a stint ending exactly at midnight does not reach into that day");
    assert_eq!(col("wau"), [0, 1, 2, 2]);
    let g = app.get("/v1/metrics/growth?from=2026-11-10&to=2026-11-13").await;
    let gd = g.body["days"].as_array().unwrap();
    let gcol = |k: &str| gd.iter().map(|d| d[k].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(gcol("joins"), [0, 2, 0, 0]);
    assert_eq!(gcol("leaves"), [0, 0, 0, 1]);
    assert_eq!(gcol("members_end"), [0, 2, 2, 1]);
    // Scoped to members who joined by QR code: member 1 only.
    let qr = app.get(&format!("{q}&source=qr_code")).await;
    let qcol = |k: &str| qr.body["days"].as_array().unwrap().iter().map(|d| d[k].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!((qcol("dau"), qcol("members")), (vec![0, 1, 0, 0], vec![0, 1, 1, 0]));

    // A late event is pending until the rollup catches up, then counted.
    let late = ev("late".into(), "checked_in", midnight(9) + Duration::hours(5), 3, Some(0));
    post_events(&app, &[late]).await;
    let before = app.get(q).await;
    assert_eq!(before.body["pending"], true);
    drain(&app).await;
    let after = app.get(q).await;
    assert_eq!(after.body["pending"], false);
    assert_eq!(after.body["days"][0]["dau"], 1);

    // Staff are left out unless asked for.
    let m2 = member_id(&app, 2).await;
    sqlx::query("UPDATE members SET is_staff = true WHERE id = $1").bind(m2).execute(&app.pool).await.unwrap();
    let r = app.get(q).await;
    assert_eq!(r.body["days"][2]["dau"], 0);
    assert_eq!(r.body["days"][2]["messages"], 0);
    let r = app.get(&format!("{q}&include_staff=true")).await;
    assert_eq!(r.body["days"][2]["dau"], 1);
    // The mask follows the flags as the API changes them, with no rollup pass.
    let set = async |body: Value| {
        let r = app.patch(&format!("/v1/members/{m2}"), body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        app.get(q).await.body["days"][2]["dau"].clone()
    };
    assert_eq!(set(json!({"is_staff": false})).await, 1, "no longer staff");
    assert_eq!(set(json!({"is_bot": true})).await, 0, "a bot");
    assert_eq!(set(json!({"is_staff": true})).await, 0, "a staff bot");
    assert_eq!(set(json!({"is_bot": false, "is_staff": false})).await, 1, "neither");

    // Another workspace sees nothing of this one, and cannot scope to its groups.
    let other = app.other_workspace("other").await;
    let r = app.send(reqwest::Method::GET, q, Some(&other), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["days"].as_array().unwrap().iter().all(|d| d["dau"] == 0 && d["members"] == 0), "{}", r.body);
    let g0 = group_id(&app, 0).await;
    let r = app.send(reqwest::Method::GET, &format!("{q}&group_id={g0}"), Some(&other), None).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "group_id"));
}

#[tokio::test]
async fn bad_metric_parameters_are_refused_naming_them() {
    let app = TestApp::spawn().await;
    for (q, field) in [
        ("/v1/metrics/activity?grup_id=x", "grup_id"),
        ("/v1/metrics/activity?from=2026-11-10&to=2026-11-01", "from"),
        ("/v1/metrics/activity?from=2025-01-01&to=2026-11-01", "to"),
        ("/v1/metrics/activity?tz=Mars/Olympus", "tz"),
        ("/v1/metrics/activity?from=20261101", "from"),
        ("/v1/metrics/activity?format=xml", "format"),
        ("/v1/metrics/growth?stay_days=0", "stay_days"),
        ("/v1/metrics/commerce?by=planet", "by"),
        ("/v1/metrics/commerce?attribution_days=91", "attribution_days"),
        ("/v1/metrics/commerce?tier=nope", "tier"),
        ("/v1/metrics/activity?stay_days=3", "stay_days"),
        ("/v1/metrics/activity?to=%2B262142-12-31", "to"),
        ("/v1/metrics/activity?to=1969-12-31", "to"),
    ] {
        let r = app.get(q).await;
        let want = if q.ends_with("tier=nope") { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!((r.status, r.field()), (want, field), "{q}: {}", r.body);
    }
}

#[tokio::test]
async fn a_shared_snapshot_sees_what_the_first_saw_and_nothing_committed_after() {
    let app = TestApp::spawn().await;
    let count = "SELECT count(*) FROM workspaces";
    // Two connections used once, so the pool has idle ones to hand out.
    let (a, b) = (app.pool.acquire().await.unwrap(), app.pool.acquire().await.unwrap());
    drop((a, b));
    let mut first = shequn::db::read_snapshot(&app.pool).await.unwrap();
    let before: i64 = sqlx::query_scalar(count).fetch_one(&mut *first).await.unwrap();
    app.other_workspace("committed after the snapshot").await;
    // An idle connection may be a moment away (the app's own workers use the pool too).
    let mut second = None;
    for _ in 0..200 {
        second = shequn::db::shared_snapshot(&app.pool, &mut first).await.unwrap();
        if second.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut second = second.expect("an idle connection within 2 s");
    let in_second: i64 = sqlx::query_scalar(count).fetch_one(&mut *second).await.unwrap();
    let in_first: i64 = sqlx::query_scalar(count).fetch_one(&mut *first).await.unwrap();
    let now: i64 = sqlx::query_scalar(count).fetch_one(&app.pool).await.unwrap();
    assert_eq!((in_first, in_second, now), (before, before, before + 1));
    // Read-only, like the first.
    let write = sqlx::query("DELETE FROM workspaces").execute(&mut *second).await;
    assert!(write.is_err(), "the shared snapshot must be read-only");
    drop((first, second));

    // No idle connection: no second snapshot (never wait for one while holding the first).
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*app.pool.connect_options()).clone())
        .await
        .unwrap();
    let mut only = shequn::db::read_snapshot(&one).await.unwrap();
    assert!(shequn::db::shared_snapshot(&one, &mut only).await.unwrap().is_none());
}
