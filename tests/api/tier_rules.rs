//! Automatic tiers: the first rule met decides, upgrades at once,
//! downgrades after the grace, tiers set by hand hold for the lock, and
//! the nightly evaluation runs once per local day.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::checkin::member;
use crate::helpers::TestApp;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn paid(app: &TestApp, m: &str, order: &str, amount: i64, when: &str) {
    let r = app
        .post(
            "/v1/events",
            json!([{"id": order, "type": "order_paid", "occurred_at": when, "member_id": m,
            "order_id": order, "amount": amount, "currency": "CNY"}]),
        )
        .await;
    assert_eq!(r.body["accepted"], 1, "{:?}", r.body);
}

async fn rollup(app: &TestApp) {
    shequn::metrics::store::rollup::drain(&app.pool).await.expect("rollup");
}

async fn tier(app: &TestApp, m: &str) -> Value {
    app.get(&format!("/v1/members/{m}")).await.body["tier"].clone()
}

async fn evaluate(app: &TestApp, dry_run: bool) -> Value {
    let r = app.post("/v1/tier-rules/evaluate", json!({"dry_run": dry_run})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn rules_make_vips_with_a_dry_run_grace_for_downgrades_and_a_lock_for_hand_set_tiers() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-10T02:00:00Z"));
    let rules = json!({
        "rules": [{"tier": "vip", "when": {"all": [{"metric": "gmv", "days": 30, "min": 100000},
                                                   {"metric": "orders", "days": 30, "min": 2}]}}],
        "default_tier": "basic", "downgrade_grace_days": 3, "manual_lock_days": 30});
    let r = app.put("/v1/tier-rules", rules.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rule_id = r.body["rules"][0]["id"].as_str().unwrap().to_owned();
    let (ann, bo, cy) = (member(&app, "Ann").await, member(&app, "Bo").await, member(&app, "Cy").await);
    paid(&app, &ann, "a1", 60000, "2026-12-01T03:00:00Z").await;
    paid(&app, &ann, "a2", 50000, "2026-12-09T03:00:00Z").await;
    paid(&app, &bo, "b1", 200000, "2026-12-05T03:00:00Z").await;
    // Today's order is not in the window (complete days to yesterday).
    paid(&app, &cy, "c1", 60000, "2026-12-09T03:00:00Z").await;
    paid(&app, &cy, "c2", 60000, "2026-12-10T01:00:00Z").await;
    rollup(&app).await;

    let dry = evaluate(&app, true).await;
    assert_eq!((dry["members"].as_i64(), dry["changed"].as_i64()), (Some(3), Some(3)), "{dry:#}");
    let ann_move = dry["changes"].as_array().unwrap().iter().find(|c| c["member_id"] == ann.as_str()).unwrap().clone();
    assert_eq!((ann_move["from"].clone(), ann_move["to"].as_str()), (Value::Null, Some("vip")));
    assert_eq!(ann_move["reason"], format!("rule:{rule_id}"));
    assert_eq!(ann_move["why"][0]["value"], 110000);
    assert!(tier(&app, &ann).await.is_null(), "a dry run changes nothing");

    let done = evaluate(&app, false).await;
    assert_eq!(done["changed"], 3);
    assert_eq!(
        (tier(&app, &ann).await, tier(&app, &bo).await, tier(&app, &cy).await),
        (json!("vip"), json!("basic"), json!("basic"))
    );
    let h = app.get(&format!("/v1/members/{ann}/tier-history")).await;
    assert_eq!(h.body["items"][0]["reason"], format!("rule:{rule_id}"));
    assert_eq!(evaluate(&app, true).await["changed"], 0, "nothing left to change");

    // Ann's first order (1 Dec) leaves the 30-day window on 1 Jan: below
    // VIP from then, kept for 3 days.
    for (day, expect) in [("2026-12-31", "vip"), ("2027-01-01", "vip"), ("2027-01-03", "vip"), ("2027-01-04", "basic")]
    {
        app.clock.set(at(&format!("{day}T02:00:00Z")));
        let e = evaluate(&app, false).await;
        assert_eq!(tier(&app, &ann).await, json!(expect), "{day}: {e:#}");
    }
    // A tier set by hand holds for 30 days.
    app.put(&format!("/v1/members/{bo}/tier"), json!({"tier": "vip", "reason": "key account"})).await;
    let e = evaluate(&app, false).await;
    assert_eq!((e["locked"].as_i64(), tier(&app, &bo).await), (Some(1), json!("vip")));
    // Then the rules apply again — with the grace of a downgrade (Cy, a
    // VIP since their two December orders, falls below too).
    assert_eq!(tier(&app, &cy).await, json!("vip"));
    app.clock.set(at("2027-02-03T02:00:00Z"));
    let e = evaluate(&app, false).await;
    assert_eq!((e["in_grace"].as_i64(), tier(&app, &bo).await), (Some(2), json!("vip")), "{e:#}");
    app.clock.set(at("2027-02-06T02:00:00Z"));
    let e = evaluate(&app, false).await;
    assert_eq!(e["changed"], 2, "{e:#}");
    assert_eq!((tier(&app, &bo).await, tier(&app, &cy).await), (json!("basic"), json!("basic")));
}

#[tokio::test]
async fn the_nightly_evaluation_runs_once_per_local_day_and_rules_are_validated() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-10T02:00:00Z"));
    for (body, field, status) in [
        (
            json!({"rules": [{"tier": "gold", "when": {"any": [{"metric": "orders", "days": 30, "min": 1}]}}]}),
            "rules[0].tier",
            404,
        ),
        (json!({"rules": [{"tier": "vip", "when": {"any": []}}]}), "rules[0].when", 422),
        (
            json!({"rules": [{"tier": "vip", "when": {"any": [{"metric": "orders", "days": 0, "min": 1}]}}]}),
            "rules[0].when.conditions[0].days",
            422,
        ),
        (json!({"rules": [], "default_tier": "gold"}), "default_tier", 404),
        (json!({"rules": [], "downgrade_grace_days": 400}), "downgrade_grace_days", 422),
    ] {
        let r = app.put("/v1/tier-rules", body.clone()).await;
        assert_eq!((r.status.as_u16(), r.field()), (status, field), "{body}: {:?}", r.body);
    }
    assert_eq!(app.post("/v1/tier-rules/evaluate", json!({})).await.status, StatusCode::NOT_FOUND);
    app.put("/v1/tier-rules", json!({"rules": [], "default_tier": "basic"})).await;
    let m = member(&app, "Di").await;
    let jobs = |app: &TestApp| {
        let state = app.state.clone();
        async move { shequn::jobs::run_campaign_jobs_once(&state).await.unwrap().1 }
    };
    let runs = futures_util::future::join_all((0..3).map(|_| jobs(&app))).await;
    assert_eq!(runs.iter().sum::<i64>(), 1, "one instance evaluates the day");
    assert_eq!(tier(&app, &m).await, json!("basic"));
    app.put(&format!("/v1/members/{m}/tier"), json!({"tier": "vip", "reason": "test"})).await;
    assert_eq!(jobs(&app).await, 0, "the day was evaluated");
    app.clock.set(at("2026-12-10T16:00:00Z") + Duration::minutes(1)); // 11 Dec in Shanghai
    assert_eq!(jobs(&app).await, 1, "no lock: back to the default");
    let other = app.other_workspace("o").await;
    let r = app.send(reqwest::Method::GET, "/v1/tier-rules", Some(&other), None).await;
    assert_eq!(r.body["rules"], json!([]));
}

#[tokio::test]
async fn a_rule_naming_a_deleted_tier_decides_nothing_and_the_default_tier_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let gold = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 50})).await;
    assert_eq!(gold.status, StatusCode::CREATED, "{:?}", gold.body);
    let rules = json!({"rules": [{"tier": "gold", "when": {"any": [{"metric": "orders", "days": 30, "min": 0}]}}],
                       "default_tier": "basic"});
    assert_eq!(app.put("/v1/tier-rules", rules).await.status, StatusCode::OK);
    let m = member(&app, "Eli").await;
    assert_eq!(app.delete(&format!("/v1/tiers/{}", gold.id())).await.status, StatusCode::NO_CONTENT);
    let e = evaluate(&app, false).await;
    assert_eq!(e["changed"], 0, "{e:#}");
    assert!(tier(&app, &m).await.is_null());
    let tiers = app.get("/v1/tiers").await;
    let basic = tiers.body["items"].as_array().unwrap().iter().find(|t| t["key"] == "basic").unwrap()["id"].clone();
    let r = app.delete(&format!("/v1/tiers/{}", basic.as_str().unwrap())).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "tier_in_use"), "{:?}", r.body);
}
