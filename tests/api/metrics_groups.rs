//! Group health, member roles, the engagement leaderboard and a member's
//! engagement: every figure equals a computation over the raw rows of a
//! random history (workspace timezone from the rollups, another timezone
//! from the raw events), and the statuses single out a dead group.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::metrics::{
    day, day_start, drain, ev, group_id, history, local, member_id, post_events, raw, Lcg, Raw, ACTIVE,
};
use crate::helpers::TestApp;

/// Extra events: invited joins, invites, orders and coupons, and group 9
/// whose last message is 20 days before the window ends.
fn extras(seed: u64, tz: Tz, start: NaiveDate, days: i64, members: usize) -> Vec<Value> {
    let mut r = Lcg(seed);
    let mut out = Vec::new();
    let at = |r: &mut Lcg, d: i64| day_start(tz, start + Duration::days(d)) + Duration::seconds(r.below(86_400) as i64);
    for k in 0..40 {
        let m = members + k;
        let g = r.below(3) as usize;
        let d = r.below(days as u64) as i64;
        let mut j = ev(format!("x-j{k}"), "member_joined", at(&mut r, d), m, Some(g));
        j["inviter"] = json!({"platform": "generic", "external_id": format!("m{}", r.below(8))});
        out.push(j);
    }
    for k in 0..200 {
        let m = r.below(members as u64) as usize;
        let g = Some(r.below(3) as usize);
        let d = r.below(days as u64) as i64;
        let t = at(&mut r, d);
        let kind = ["order_paid", "coupon_claimed", "coupon_redeemed", "member_invited"][r.below(4) as usize];
        let mut e = ev(format!("x-e{k}"), kind, t, m, g);
        if kind == "order_paid" {
            e["order_id"] = json!(format!("xo{k}"));
        }
        out.push(e);
    }
    // Activation's edge: active on the 7th local day after joining counts, on the 8th not.
    for (m, after) in [(300, 6), (301, 7)] {
        out.push(ev(format!("x-a{m}"), "member_joined", at(&mut r, 45), m, Some(0)));
        out.push(ev(format!("x-am{m}"), "checked_in", day_start(tz, start + Duration::days(45 + after)), m, Some(0)));
    }
    for m in 0..6 {
        out.push(ev(format!("x-d{m}"), "member_joined", at(&mut r, 1), m, Some(9)));
        for k in 0..3 {
            out.push(ev(format!("x-dm{m}-{k}"), "message_sent", at(&mut r, days - 21 - k), m, Some(9)));
        }
    }
    out
}

struct Scope<'a> {
    raw: &'a Raw,
    tz: Tz,
}

impl Scope<'_> {
    fn counted(&self, m: &Uuid) -> bool {
        !self.raw.staff.contains(m)
    }
    /// (member, local day) of counted members' events of `kinds` in group `g` on days `[a, b]`.
    fn events(&self, g: Uuid, kinds: &[&str], a: NaiveDate, b: NaiveDate) -> Vec<(Uuid, NaiveDate)> {
        self.raw
            .events
            .iter()
            .filter(|(k, at, eg, m)| {
                let d = local(self.tz, *at);
                *eg == Some(g) && self.counted(m) && kinds.contains(&k.as_str()) && d >= a && d <= b
            })
            .map(|(_, at, _, m)| (*m, local(self.tz, *at)))
            .collect()
    }
}

/// The health figures of group `g` by docs/metrics.md, straight from raw rows.
fn expected_figures(s: &Scope, g: Uuid, from: NaiveDate, to: NaiveDate) -> Value {
    let n = (to - from).num_days() + 1;
    let (lo, hi) = (day_start(s.tz, from), day_start(s.tz, to + Duration::days(1)));
    let stints: Vec<_> = s
        .raw
        .stints
        .iter()
        .filter(|(m, sg, j, l)| *sg == g && s.counted(m) && *j < hi && l.is_none_or(|l| l > lo) && *l != Some(*j))
        .collect();
    let settle = Duration::days(7);
    let active = s.events(g, &ACTIVE, from, to);
    let active_set: HashSet<(Uuid, NaiveDate)> = active.iter().copied().collect();
    let before: HashSet<Uuid> =
        s.events(g, &ACTIVE, from - Duration::days(n), from - Duration::days(1)).into_iter().map(|x| x.0).collect();
    let messages = s.events(g, &["message_sent"], from, to);
    let mut per_sender: HashMap<Uuid, i64> = HashMap::new();
    for (m, _) in &messages {
        *per_sender.entry(*m).or_default() += 1;
    }
    let mut counts: Vec<(i64, Uuid)> = per_sender.iter().map(|(m, c)| (*c, *m)).collect();
    counts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let top: i64 = counts.iter().take(counts.len().div_ceil(10)).map(|x| x.0).sum();
    let message_days: HashSet<NaiveDate> = messages.iter().map(|x| x.1).collect();
    let last_join = day_start(s.tz, to - Duration::days(5));
    let joiners: Vec<_> = stints.iter().filter(|x| x.2 >= lo && x.2 < last_join).collect();
    let activated = joiners
        .iter()
        .filter(|(m, _, j, _)| {
            let jd = local(s.tz, *j);
            (0..7).any(|k| active_set.contains(&(*m, jd + Duration::days(k))))
        })
        .count();
    let settled: Vec<_> = stints.iter().filter(|x| x.2 >= lo && x.2 <= hi - settle).collect();
    json!({
        "members": stints.iter().map(|x| x.0).collect::<HashSet<_>>().len(),
        "members_start": stints.iter().filter(|x| x.2 < lo && x.3.is_none_or(|l| l >= lo)).count(),
        "members_end": stints.iter().filter(|x| x.3.is_none_or(|l| l >= hi)).count(),
        "joins": stints.iter().filter(|x| x.2 >= lo).count(),
        "leaves": stints.iter().filter(|x| x.3.is_some_and(|l| l >= lo && l < hi)).count(),
        "active_members": active.iter().map(|x| x.0).collect::<HashSet<_>>().len(),
        "active_members_before": before.len(),
        "active_member_days": active_set.len(),
        "messages": messages.len(),
        "senders": per_sender.len(),
        "top_sender_messages": top,
        "silent_days": n - message_days.len() as i64,
        "new_members_activation": joiners.len(),
        "new_members_activated": activated,
        "new_members_settled": settled.len(),
        "new_members_stayed": settled.iter().filter(|x| x.3.is_none_or(|l| l >= x.2 + settle)).count(),
    })
}

const WEIGHTS: [(&str, i64); 7] = [
    ("message_sent", 1),
    ("checked_in", 2),
    ("link_clicked", 1),
    ("coupon_claimed", 2),
    ("coupon_redeemed", 3),
    ("order_paid", 5),
    ("member_invited", 3),
];

/// Engagement of every member from raw events of `group` (None: all, staff included) as of `to`.
fn expected_engagement(raw: &Raw, tz: Tz, to: NaiveDate, group: Option<Uuid>) -> BTreeMap<Uuid, f64> {
    let mut points: HashMap<(Uuid, NaiveDate), i64> = HashMap::new();
    for (kind, at, g, m) in &raw.events {
        let d = local(tz, *at);
        let in_scope = match group {
            Some(x) => *g == Some(x) && !raw.staff.contains(m),
            None => true,
        };
        if in_scope && d <= to && d > to - Duration::days(180) {
            if let Some((_, w)) = WEIGHTS.iter().find(|(k, _)| k == kind) {
                *points.entry((*m, d)).or_default() += w;
            }
        }
    }
    let mut out: BTreeMap<Uuid, f64> = BTreeMap::new();
    for ((m, d), p) in points {
        let age = (to - d).num_days();
        *out.entry(m).or_default() += p.min(10) as f64 * 0.5f64.powi((age / 30) as i32);
    }
    out.retain(|_, s| *s > 0.0);
    out
}

fn level(score: f64) -> i64 {
    let mut l = 0;
    while l < 10 && score >= 2f64.powi(l as i32) {
        l += 1;
    }
    l
}

#[tokio::test]
async fn health_roles_and_engagement_equal_the_raw_event_computation() {
    let app = TestApp::spawn().await;
    let tz: Tz = "America/New_York".parse().unwrap();
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "America/New_York"})).await.status, StatusCode::OK);
    let start = day("2026-09-10");
    let mut events = history(31, tz, start, 70, 50, 3);
    events.extend(extras(32, tz, start, 70, 50));
    post_events(&app, &events).await;
    let staff = member_id(&app, 2).await;
    sqlx::query("UPDATE members SET is_staff = true WHERE id = $1").bind(staff).execute(&app.pool).await.unwrap();
    drain(&app).await;
    let raw = raw(&app).await;
    let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
    let groups = [group_id(&app, 0).await, group_id(&app, 1).await, group_id(&app, 2).await, group_id(&app, 9).await];
    let (from, to) = (day("2026-10-20"), day("2026-11-18"));
    for (query, zone) in [("", tz), ("&tz=Asia/Shanghai", shanghai)] {
        let s = Scope { raw: &raw, tz: zone };
        let r = app.get(&format!("/v1/metrics/groups/health?from={from}&to={to}{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        for item in items {
            let g = Uuid::parse_str(item["group_id"].as_str().unwrap()).unwrap();
            assert_eq!(item["figures"], expected_figures(&s, g, from, to), "group {g} {query}");
            let score = item["score"].as_i64().unwrap();
            assert!((0..=100).contains(&score));
        }
        let dead = items.iter().find(|i| i["group_id"] == groups[3].to_string()).unwrap();
        assert_eq!(dead["status"], "dead", "{dead}");
        assert_eq!(items[0]["group_id"], groups[3].to_string(), "the dead group comes first");
        let last: Option<NaiveDate> = raw
            .events
            .iter()
            .filter(|e| e.0 == "message_sent" && e.2 == Some(groups[3]))
            .map(|e| local(zone, e.1))
            .max();
        assert_eq!(dead["last_message_day"], json!(last.map(|d| d.to_string())));
        assert!(items.iter().filter(|i| i["status"] == "healthy").count() >= 1, "{items:?}");

        // Roles of group 0.
        let g = groups[0];
        let r = app.get(&format!("/v1/metrics/groups/{g}/roles?from={from}&to={to}&limit=200{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let active = s.events(g, &ACTIVE, from, to);
        let messages = s.events(g, &["message_sent"], from, to);
        let invites = s.events(g, &["member_invited"], from, to);
        let (lo, hi) = (day_start(zone, from), day_start(zone, to + Duration::days(1)));
        let mut per: HashMap<Uuid, [i64; 4]> = HashMap::new();
        for (m, _) in active.iter().collect::<HashSet<_>>() {
            per.entry(*m).or_default()[0] += 1;
        }
        for (m, _) in &messages {
            per.entry(*m).or_default()[1] += 1;
        }
        for (m, _) in messages.iter().collect::<HashSet<_>>() {
            per.entry(*m).or_default()[2] += 1;
        }
        let inviters: Vec<Uuid> = sqlx::query_scalar(
            "SELECT inviter_id FROM memberships WHERE workspace_id = $1 AND group_id = $2 AND joined_at >= $3
               AND joined_at < $4 AND inviter_id IS NOT NULL AND left_at IS DISTINCT FROM joined_at",
        )
        .bind(Uuid::parse_str(&app.workspace_id).unwrap())
        .bind(g)
        .bind(lo)
        .bind(hi)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let mut senders: Vec<(i64, Uuid)> = per.iter().filter(|x| x.1[1] > 0).map(|(m, c)| (c[1], *m)).collect();
        senders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let core: HashSet<Uuid> =
            senders.iter().take(senders.len().div_ceil(10)).filter(|x| per[&x.1][2] >= 3).map(|x| x.1).collect();
        let followers: HashSet<Uuid> =
            per.iter().filter(|(m, c)| c[0] >= 3 && !core.contains(m)).map(|(m, _)| *m).collect();
        let ids = |k: &str| -> HashSet<Uuid> {
            r.body[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| Uuid::parse_str(x["member_id"].as_str().unwrap()).unwrap())
                .collect()
        };
        assert_eq!(ids("core_creators"), core, "{query}");
        assert_eq!(ids("active_followers"), followers, "{query}");
        assert!(!core.is_empty() && followers.len() > 3, "the history is not trivial");
        let invite_events: HashSet<Uuid> = invites.iter().map(|x| x.0).collect();
        let want: HashSet<Uuid> =
            invite_events.iter().copied().chain(inviters.into_iter().filter(|m| s.counted(m))).collect();
        assert_eq!(ids("sharers"), want, "{query}");
        assert_eq!(r.body["counts"]["sharers"].as_u64().unwrap() as usize, want.len());
        assert!(want.len() > invite_events.len(), "invited joins make sharers too");

        // Leaderboard of group 1, as of `to`.
        let g = groups[1];
        let r = app.get(&format!("/v1/metrics/groups/{g}/leaderboard?to={to}&limit=200{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let want = expected_engagement(&raw, zone, to, Some(g));
        let got: BTreeMap<Uuid, f64> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (Uuid::parse_str(x["member_id"].as_str().unwrap()).unwrap(), x["score"].as_f64().unwrap()))
            .collect();
        assert_eq!(got, want, "{query}");
        assert_eq!(r.body["members"].as_u64().unwrap() as usize, want.len());
        for x in r.body["items"].as_array().unwrap() {
            assert_eq!(x["level"].as_i64().unwrap(), level(x["score"].as_f64().unwrap()));
        }
        let scores: Vec<f64> =
            r.body["items"].as_array().unwrap().iter().map(|x| x["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first");
    }

    // A member's own engagement (every group, staff too), on the member resource as well.
    let everyone = expected_engagement(&raw, tz, day("2026-11-19"), None);
    for m in [staff, member_id(&app, 7).await] {
        let r = app.get(&format!("/v1/metrics/members/{m}/engagement")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let want = everyone.get(&m).copied().unwrap_or(0.0);
        assert!(want > 0.0);
        assert_eq!(r.body["score"].as_f64(), Some(want));
        assert_eq!(r.body["level"].as_i64(), Some(level(want)));
        let spans = r.body["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 6);
        assert_eq!(spans[0]["to"], "2026-11-19");
        let total: f64 = spans.iter().map(|s| s["points"].as_f64().unwrap() * s["weight"].as_f64().unwrap()).sum();
        assert_eq!(total, want, "the spans explain the score");
        let member = app.get(&format!("/v1/members/{m}")).await;
        assert_eq!(member.body["engagement"]["score"].as_f64(), Some(want));
        assert_eq!(member.body["id"], m.to_string());
    }
}

#[tokio::test]
async fn group_metrics_are_scoped_to_the_workspace_and_validate_parameters() {
    let app = TestApp::spawn().await;
    let t: DateTime<Utc> = "2026-11-10T10:00:00Z".parse().unwrap();
    post_events(&app, &[ev("a".into(), "message_sent", t, 1, Some(1)), ev("b".into(), "member_joined", t, 1, Some(1))])
        .await;
    drain(&app).await;
    let g = group_id(&app, 1).await;
    let m = member_id(&app, 1).await;
    let other_key = app.other_workspace("other").await;
    for path in [
        format!("/v1/metrics/groups/{g}/roles"),
        format!("/v1/metrics/groups/{g}/leaderboard"),
        format!("/v1/metrics/members/{m}/engagement"),
    ] {
        assert_eq!(app.get(&path).await.status, StatusCode::OK, "{path}");
        let r = app.send(reqwest::Method::GET, &path, Some(&other_key), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = app.send(reqwest::Method::GET, "/v1/metrics/groups/health", Some(&other_key), None).await;
    assert_eq!(r.body["items"], json!([]), "another workspace sees none of these groups");
    let r = app.get("/v1/metrics/groups/health").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["to"], "2026-11-19", "windows end yesterday (Shanghai) by default");
    for bad in [
        "/v1/metrics/groups/health?dead_after_days=0",
        "/v1/metrics/groups/health?min_active_rate=1.5",
        "/v1/metrics/groups/health?status=zombie",
        "/v1/metrics/groups/health?limit=3",
        &format!("/v1/metrics/groups/{g}/roles?limit=0") as &str,
        &format!("/v1/metrics/groups/{g}/leaderboard?from=2026-10-01"),
        "/v1/metrics/groups/not-a-uuid/roles",
    ] {
        let r = app.get(bad).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
            "{bad}: {}",
            r.status
        );
        assert!(r.body["error"]["code"].is_string(), "{bad}");
    }
}

#[tokio::test]
async fn the_demo_workspace_gives_meaningful_numbers_and_resets_to_the_same_data() {
    let app = TestApp::spawn().await;
    let options = shequn::demo::Options { members: 600, groups: 10, days: 40, progress: false, ..Default::default() };
    let now = shequn::clock::Clock::now(&app.clock);
    let first = shequn::demo::run(&app.pool, &options, now).await.expect("demo");
    assert!(first.events > 10_000, "{}", first.events);
    let get = |path: String, key: String| {
        let app = &app;
        async move {
            let r = app.send(reqwest::Method::GET, &path, Some(&key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            r.body
        }
    };
    let key = first.api_key.clone();
    let activity = get("/v1/metrics/activity".into(), key.clone()).await;
    assert!(activity["days"][0]["dau"].as_i64().unwrap() > 20, "{}", activity["days"][0]);
    assert_eq!(activity["pending"], false, "the demo rolls its metrics up");
    let health = get("/v1/metrics/groups/health".into(), key.clone()).await;
    assert_eq!(health["counts"]["dead"], 1, "one group in ten falls silent: {}", health["counts"]);
    let funnel = get("/v1/metrics/funnel?funnel=purchase".into(), key.clone()).await;
    assert!(funnel["steps"][2]["count"].as_i64().unwrap() > 5, "{funnel}");
    let growth = get("/v1/metrics/growth".into(), key.clone()).await;
    assert!(growth["referrals"]["invited_joins"].as_i64().unwrap() > 5, "{}", growth["referrals"]);
    let commerce = get("/v1/metrics/commerce?by=campaign".into(), key.clone()).await;
    assert!(commerce["total"]["gmv"].as_i64().unwrap() > 0);
    // Again: the same workspace name, reset to the same data, the old key gone.
    let second = shequn::demo::run(&app.pool, &options, now).await.expect("demo again");
    assert_eq!(second.events, first.events);
    let workspaces: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE name = 'demo'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(workspaces, 1);
    let r = app.send(reqwest::Method::GET, "/v1/metrics/activity", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let again = get("/v1/metrics/activity".into(), second.api_key.clone()).await;
    assert_eq!(again["days"], activity["days"]);
    // The test's own workspace saw none of it.
    assert_eq!(app.get("/v1/metrics/activity").await.body["days"][0]["dau"], 0);
}

#[tokio::test]
async fn the_demo_has_real_check_ins_points_redemptions_and_rule_made_vips() {
    let app = TestApp::spawn().await;
    let options = shequn::demo::Options { members: 600, groups: 10, days: 40, progress: false, ..Default::default() };
    let now = shequn::clock::Clock::now(&app.clock);
    let out = shequn::demo::run(&app.pool, &options, now).await.expect("demo");
    assert!(out.check_ins > 30, "{}", out.check_ins);
    assert!(out.redemptions > 5, "{}", out.redemptions);
    assert!(out.vips > 10, "{}", out.vips);
    let key = out.api_key.clone();
    let get = |path: &str| {
        let (app, key, path) = (&app, key.clone(), path.to_owned());
        async move {
            let r = app.send(reqwest::Method::GET, &path, Some(&key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            r.body
        }
    };
    let campaigns = get("/v1/campaigns?kind=check_in").await;
    let c = campaigns["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(campaigns["items"][0]["status"], "running");
    let stats = get(&format!(
        "/v1/campaigns/{c}/check-ins/stats?to={}",
        shequn::metrics::period::local_day(chrono_tz::Asia::Shanghai, now)
    ))
    .await;
    assert!(stats["check_ins"].as_i64().unwrap() > 30, "{stats}");
    assert!(
        stats["streaks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["min"].as_i64() >= Some(4) && b["members"].as_i64() > Some(0)),
        "{stats}"
    );
    let redemptions = get("/v1/mall/redemptions?limit=200").await;
    let statuses: Vec<&str> =
        redemptions["items"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    for s in ["pending_fulfilment", "fulfilled", "cancelled"] {
        assert!(statuses.contains(&s), "{statuses:?}");
    }
    let member = redemptions["items"][0]["member_id"].as_str().unwrap().to_owned();
    let ledger = get(&format!("/v1/members/{member}/points/ledger?limit=200")).await;
    let sum: i64 = ledger["items"].as_array().unwrap().iter().map(|e| e["delta"].as_i64().unwrap()).sum();
    assert_eq!(get(&format!("/v1/members/{member}/points")).await["balance"].as_i64(), Some(sum));
    let vips = get("/v1/members?tier=vip&limit=1").await;
    let vip = vips["items"][0]["id"].as_str().unwrap().to_owned();
    let history = get(&format!("/v1/members/{vip}/tier-history")).await;
    assert!(history["items"][0]["reason"].as_str().unwrap().starts_with("rule:"), "{history}");
    // The welfare hour: a coupon template and a daily 10:00 flash sale
    // whose history agrees with the orders.
    let w = out.welfare;
    assert!(w.claimed > 10 && w.reserved > 10 && w.paid > 5, "{w:?}");
    let templates = get("/v1/coupon-templates").await;
    let t = templates["items"][0]["id"].as_str().unwrap().to_owned();
    let stats = get(&format!("/v1/coupon-templates/{t}/stats")).await;
    assert_eq!(stats["total"]["given"].as_i64(), Some(w.claimed as i64), "{stats}");
    assert!(stats["total"]["redeemed"].as_i64().unwrap() > 0, "{stats}");
    let sales = get("/v1/flash-sales").await;
    assert_eq!(sales["items"][0]["schedule"], json!({"kind": "daily", "at": "10:00", "duration_minutes": 30}));
    let ws = out.workspace_id;
    let (reserved, confirmed, paid_orders, unpaid_confirmed, sold, redeemed_unpaid): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM flash_sale_reservations WHERE workspace_id = $1 AND status = 'reserved'),
                (SELECT count(*) FROM flash_sale_reservations WHERE workspace_id = $1 AND status = 'confirmed'),
                (SELECT count(*) FROM events WHERE workspace_id = $1 AND type = 'order_paid'
                   AND properties ? 'reservation_id'),
                (SELECT count(*) FROM flash_sale_reservations r WHERE r.workspace_id = $1 AND r.status = 'confirmed'
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = $1 AND e.type = 'order_paid'
                     AND e.order_id = r.order_id AND e.properties->>'reservation_id' = r.id::text)),
                (SELECT coalesce(sum(sold), 0) - (SELECT coalesce(sum(quantity), 0) FROM flash_sale_reservations
                   WHERE workspace_id = $1 AND status = 'confirmed') FROM flash_sale_stock WHERE workspace_id = $1),
                (SELECT count(*) FROM coupons c WHERE c.workspace_id = $1 AND c.status = 'redeemed'
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = $1 AND e.type = 'order_paid'
                     AND e.order_id = c.order_id))",
        )
        .bind(ws)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reserved, 0, "unpaid reservations expired");
    assert_eq!((confirmed, paid_orders), (w.paid as i64, w.paid as i64));
    assert_eq!((unpaid_confirmed, sold, redeemed_unpaid), (0, 0, 0), "every sale is a paid order and back");

    // Growth: a channel per source with attributed joins and visits, an
    // invite tree through the referral engine (some rejected, some
    // revoked), and the lottery drawn on its last day at 20:00.
    let f = out.fission;
    assert_eq!(f.channels, 3);
    assert!(f.attributed > 10, "{f:?}");
    let channels = get("/v1/channels").await;
    let ch = channels["items"][0]["id"].as_str().unwrap().to_owned();
    let cs = get(&format!("/v1/channels/{ch}/stats?from=2026-10-01&to=2026-11-20")).await;
    assert!(
        cs["total"]["joins"].as_i64() > Some(0) && cs["total"]["visits"].as_i64() > cs["total"]["joins"].as_i64(),
        "{cs}"
    );
    let by: std::collections::HashMap<String, i64> = f.referrals.iter().cloned().collect();
    for s in ["qualified", "rejected", "revoked"] {
        assert!(by.get(s).copied().unwrap_or(0) > 0, "{s}: {by:?}");
    }
    let rejected = get("/v1/referrals?status=rejected&limit=200").await;
    let reasons: std::collections::HashSet<&str> =
        rejected["items"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains("not_new"), "{reasons:?}");
    let referral = get("/v1/campaigns?kind=referral").await["items"][0]["id"].as_str().unwrap().to_owned();
    let board = get(&format!("/v1/campaigns/{referral}/leaderboard")).await;
    let top = board["items"][0]["member_id"].as_str().unwrap().to_owned();
    let tree = get(&format!("/v1/members/{top}/referral-tree")).await;
    assert!(tree["members"].as_i64() > Some(0), "{tree}");
    assert!(f.lottery_drawn, "{f:?}");
    let lottery = get("/v1/lotteries").await["items"][0]["id"].as_str().unwrap().to_owned();
    let d = get(&format!("/v1/lotteries/{lottery}/draw")).await;
    assert_eq!((d["status"].as_str(), d["late"].as_bool()), (Some("drawn"), Some(false)), "{d}");
    assert!(d["winners"].as_array().unwrap().len() > 5, "{d}");

    // Social buying: teams and sessions in every state, through the engines.
    let teams: std::collections::HashMap<String, i64> = out.social.teams.iter().cloned().collect();
    let sessions: std::collections::HashMap<String, i64> = out.social.sessions.iter().cloned().collect();
    for s in ["open", "succeeded", "failed"] {
        assert!(teams.get(s).copied().unwrap_or(0) > 0, "{s}: {teams:?}");
    }
    for s in ["open", "completed", "purchased", "expired"] {
        assert!(sessions.get(s).copied().unwrap_or(0) > 0, "{s}: {sessions:?}");
    }
    let gb = get("/v1/group-buys").await["items"][0]["id"].as_str().unwrap().to_owned();
    let gs = get(&format!("/v1/group-buys/{gb}/stats")).await;
    assert_eq!(gs["total"]["succeeded"].as_i64(), teams.get("succeeded").copied(), "{gs}");
    assert_eq!(gs["total"]["gmv"].as_i64(), Some(teams["succeeded"] * 3 * 12900), "{gs}");
    let failed = get(&format!("/v1/group-buys/{gb}/teams?status=failed&limit=1")).await;
    assert_eq!(failed["items"][0]["reason"], "expired", "{failed}");
    let bg = get("/v1/bargains").await["items"][0]["id"].as_str().unwrap().to_owned();
    let bought = get(&format!("/v1/bargains/{bg}/sessions?status=purchased&limit=200")).await;
    for s in bought["items"].as_array().unwrap() {
        assert_eq!((s["price"].as_i64(), s["helps"].as_i64()), (Some(990), Some(5)), "bought at the floor: {s}");
    }
}
