//! Points: the guarded balance, lots spent earliest expiry first, expiry at
//! local midnight written once, adjustments.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use shequn::clock::Clock;

use crate::checkin::{assert_ledger_consistent, balance, ledger, member};
use crate::helpers::TestApp;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn adjust(app: &TestApp, m: &str, delta: i64) -> crate::helpers::Resp {
    app.post(&format!("/v1/members/{m}/points/adjustments"), json!({"delta": delta, "note": "test"})).await
}

async fn expire(app: &TestApp) -> usize {
    shequn::points::expiry::run_once(&app.pool, app.clock.now()).await.unwrap()
}

#[tokio::test]
async fn twenty_concurrent_spends_of_a_full_balance_succeed_once() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Ann").await;
    assert_eq!(adjust(&app, &m, 100).await.status, StatusCode::CREATED);
    let answers = join_all((0..20).map(|_| adjust(&app, &m, -100))).await;
    let ok = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(ok, 1, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "insufficient_points"), "{:?}", r.body);
    }
    assert_eq!(balance(&app, &m).await, 0);
    assert_eq!(ledger(&app, &m).await.len(), 2);
    assert_ledger_consistent(&app, &m).await;

    // Partial spends racing: 30 × 7 from 100 → exactly 14 succeed.
    adjust(&app, &m, 100).await;
    let answers = join_all((0..30).map(|_| adjust(&app, &m, -7))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 14);
    assert_eq!(balance(&app, &m).await, 2);
    assert_ledger_consistent(&app, &m).await;
}

#[tokio::test]
async fn lots_expire_at_the_local_midnight_ending_their_last_day_and_are_spent_earliest_first() {
    let app = TestApp::spawn().await; // Asia/Shanghai
    let r = app.patch("/v1/workspace", json!({"points": {"expiry": {"kind": "after_days", "days": 1}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["points"]["expiry"], json!({"kind": "after_days", "days": 1}));
    assert_eq!(r.body["points"]["clawback"], "allow_negative");
    let m = member(&app, "Bo").await;
    // Lot A: 30 on 3 Dec (last day 4 Dec, expires 5 Dec 00:00 = 4 Dec 16:00 UTC).
    app.clock.set(at("2026-12-03T02:00:00Z"));
    let a = adjust(&app, &m, 30).await;
    assert_eq!(a.body["expires_at"], "2026-12-04T16:00:00Z", "{:?}", a.body);
    // Lot B: 50 on 4 Dec (expires 5 Dec 16:00 UTC).
    app.clock.set(at("2026-12-04T02:00:00Z"));
    adjust(&app, &m, 50).await;
    // A never-expiring lot under a new policy: spent last.
    app.patch("/v1/workspace", json!({"points": {"expiry": {"kind": "never"}}})).await;
    let c = adjust(&app, &m, 40).await;
    assert!(c.body["expires_at"].is_null());
    let p = app.get(&format!("/v1/members/{m}/points")).await;
    assert_eq!(p.body["balance"], 120);
    assert_eq!(
        p.body["expiring"],
        json!([{"points": 30, "expires_at": "2026-12-04T16:00:00Z"},
                                          {"points": 50, "expires_at": "2026-12-05T16:00:00Z"}])
    );
    // Spend 40: all of A (30), then 10 of B.
    assert_eq!(adjust(&app, &m, -40).await.status, StatusCode::CREATED);
    let p = app.get(&format!("/v1/members/{m}/points")).await;
    assert_eq!(p.body["expiring"], json!([{"points": 40, "expires_at": "2026-12-05T16:00:00Z"}]));

    // One second before B's midnight nothing expires; at it, B's 40 left do, once.
    app.clock.set(at("2026-12-05T15:59:59Z"));
    assert_eq!(expire(&app).await, 0);
    app.clock.set(at("2026-12-05T16:00:00Z"));
    let runs = join_all((0..4).map(|_| expire(&app))).await;
    assert_eq!(runs.iter().sum::<usize>(), 1, "several runs expire a lot once");
    assert_eq!(expire(&app).await, 0);
    let entries = ledger(&app, &m).await;
    assert_eq!((entries[0]["kind"].as_str(), entries[0]["delta"].as_i64()), (Some("expire"), Some(-40)));
    assert_eq!(entries[0]["occurred_at"], "2026-12-05T16:00:00Z");
    assert_eq!(entries[0]["source"]["type"], "expiry");
    assert_eq!(balance(&app, &m).await, 40);
    assert_ledger_consistent(&app, &m).await;
}

#[tokio::test]
async fn spending_after_midnight_expires_due_lots_first_even_before_the_run() {
    let app = TestApp::spawn().await;
    app.patch("/v1/workspace", json!({"points": {"expiry": {"kind": "end_of_year_after", "years": 0}}})).await;
    let m = member(&app, "Cy").await;
    app.clock.set(at("2026-12-30T02:00:00Z"));
    let a = adjust(&app, &m, 100).await;
    // The end of 2026 in Shanghai: 31 Dec 16:00 UTC.
    assert_eq!(a.body["expires_at"], "2026-12-31T16:00:00Z");
    app.clock.set(at("2026-12-31T16:00:01Z"));
    adjust(&app, &m, 10).await; // a 2027 lot
    let r = adjust(&app, &m, -20).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "insufficient_points"), "{:?}", r.body);
    assert_eq!(r.body["error"]["balance"], 110, "the expiry is not written by a refused spend");
    let ok = adjust(&app, &m, -10).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert_eq!(ok.body["balance_after"], 0);
    let kinds: Vec<_> = ledger(&app, &m).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["adjust", "expire", "adjust", "adjust"]);
    assert_eq!(expire(&app).await, 0, "nothing left for the run");
    assert_ledger_consistent(&app, &m).await;
}

#[tokio::test]
async fn adjustments_are_validated_audited_and_replayed_by_idempotency_key() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Di").await;
    for (body, field) in [
        (json!({"delta": 0, "note": "x"}), "delta"),
        (json!({"delta": 5, "note": ""}), "note"),
        (json!({"delta": 1.5, "note": "x"}), "delta"),
        (json!({"delta": 2000000000, "note": "x"}), "delta"),
    ] {
        let r = app.post(&format!("/v1/members/{m}/points/adjustments"), body.clone()).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {:?}", r.body);
    }
    let send = || {
        app.client
            .post(format!("{}/v1/members/{m}/points/adjustments", app.base))
            .bearer_auth(&app.key)
            .header("idempotency-key", "adj-1")
            .json(&json!({"delta": 25, "note": "goodwill"}))
            .send()
    };
    let first: serde_json::Value = send().await.unwrap().json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(balance(&app, &m).await, 25);
    let viewer = app.key_with_role("viewer").await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/members/{m}/points/adjustments"),
            Some(&viewer),
            Some(json!({"delta": 5, "note": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let audit = app.get("/v1/audit-log?action=points.adjust").await;
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(1), "{:?}", audit.body);
    let missing = app.get(&format!("/v1/members/{}/points", uuid::Uuid::now_v7())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn events(app: &TestApp, list: serde_json::Value) {
    let r = app.post("/v1/events", list).await;
    assert!(r.status.is_success() && r.body["rejected"] == 0, "{:?}", r.body);
}

fn order(id: &str, kind: &str, member: &str, order: &str, amount: Option<i64>) -> serde_json::Value {
    let mut e = json!({"id": id, "type": kind, "occurred_at": "2026-11-20T01:00:00Z", "member_id": member,
                       "order_id": order});
    if let Some(a) = amount {
        e["amount"] = json!(a);
        e["currency"] = json!("CNY");
    }
    e
}

#[tokio::test]
async fn paid_orders_earn_once_and_refunds_take_back_in_proportion() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Eve").await;
    let r = app
        .post(
            "/v1/points-rules",
            json!({"name": "1 point per yuan", "trigger": "order_paid", "points_per_unit": 1, "unit": 100}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    events(&app, json!([order("p1", "order_paid", &m, "A1", Some(12345))])).await;
    // Redelivered, and paid again under another event id: no second credit.
    events(
        &app,
        json!([order("p1", "order_paid", &m, "A1", Some(12345)), order("p1b", "order_paid", &m, "A1", Some(12345))]),
    )
    .await;
    assert_eq!(balance(&app, &m).await, 123);
    // Half refunded, then the rest.
    events(&app, json!([order("r1", "order_refunded", &m, "A1", Some(6172))])).await;
    assert_eq!(balance(&app, &m).await, 123 - 61);
    events(&app, json!([order("r2", "order_refunded", &m, "A1", None)])).await;
    events(&app, json!([order("r3", "order_refunded", &m, "A1", None)])).await;
    assert_eq!(balance(&app, &m).await, 0);
    let kinds: Vec<(String, i64)> = ledger(&app, &m)
        .await
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["delta"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, [("clawback".into(), -62), ("clawback".into(), -61), ("earn".into(), 123)]);
    assert_ledger_consistent(&app, &m).await;
}

#[tokio::test]
async fn a_refund_of_spent_points_is_a_debt_or_written_off_by_policy() {
    let app = TestApp::spawn().await;
    app.post("/v1/points-rules", json!({"name": "r", "trigger": "order_paid", "points_per_unit": 1, "unit": 100}))
        .await;
    let m = member(&app, "Fay").await;
    events(&app, json!([order("p1", "order_paid", &m, "B1", Some(10000))])).await;
    assert_eq!(adjust(&app, &m, -80).await.status, StatusCode::CREATED);
    // allow_negative (the default): the balance goes to -80.
    events(&app, json!([order("r1", "order_refunded", &m, "B1", None)])).await;
    assert_eq!(balance(&app, &m).await, -80);
    // Later earnings pay the debt first: of 100, 20 are left to spend.
    events(&app, json!([order("p2", "order_paid", &m, "B2", Some(10000))])).await;
    assert_eq!(balance(&app, &m).await, 20);
    let p = app.get(&format!("/v1/members/{m}/points")).await;
    assert_eq!(p.body["expiring"], json!([]));
    assert_eq!(adjust(&app, &m, -21).await.code(), "insufficient_points");
    assert_eq!(adjust(&app, &m, -20).await.status, StatusCode::CREATED);
    assert_ledger_consistent(&app, &m).await;

    app.patch("/v1/workspace", json!({"points": {"clawback": "floor_zero"}})).await;
    let n = member(&app, "Gil").await;
    events(&app, json!([order("p3", "order_paid", &n, "C1", Some(10000))])).await;
    adjust(&app, &n, -70).await;
    events(&app, json!([order("r3", "order_refunded", &n, "C1", None)])).await;
    assert_eq!(balance(&app, &n).await, 0);
    let last = &ledger(&app, &n).await[0];
    assert_eq!((last["kind"].as_str(), last["delta"].as_i64()), (Some("clawback"), Some(-30)));
    assert_eq!(last["note"], "refund of order C1: 70 of 100 points written off (floor_zero)");
    assert_ledger_consistent(&app, &n).await;
}

#[tokio::test]
async fn event_rules_respect_their_daily_cap_tiers_and_validation() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/points-rules",
            json!({"name": "share", "trigger": "event", "event_type": "custom.shared", "points": 5, "daily_cap": 12}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.post(
        "/v1/points-rules",
        json!({"name": "vip clicks", "trigger": "event", "event_type": "link_clicked", "points": 3, "tiers": ["vip"]}),
    )
    .await;
    let m = member(&app, "Hal").await;
    let share = |id: &str, at: &str| json!({"id": id, "type": "custom.shared", "occurred_at": at, "member_id": m});
    events(&app, json!([share("s1", "2026-11-19T01:00:00Z"), share("s2", "2026-11-19T02:00:00Z")])).await;
    events(&app, json!([share("s3", "2026-11-19T03:00:00Z"), share("s4", "2026-11-19T04:00:00Z")])).await;
    assert_eq!(balance(&app, &m).await, 12, "capped at 12 on the 19th (Shanghai)");
    events(&app, json!([share("s5", "2026-11-19T16:30:00Z")])).await; // 20 Nov 00:30 in Shanghai
    assert_eq!(balance(&app, &m).await, 17);
    let click = json!([{"id": "c1", "type": "link_clicked", "occurred_at": "2026-11-19T05:00:00Z", "member_id": m}]);
    events(&app, click).await;
    assert_eq!(balance(&app, &m).await, 17, "not a VIP");
    app.put(&format!("/v1/members/{m}/tier"), json!({"tier": "vip"})).await;
    events(&app, json!([{"id": "c2", "type": "link_clicked", "occurred_at": "2026-11-19T05:00:00Z", "member_id": m}]))
        .await;
    assert_eq!(balance(&app, &m).await, 20);

    for (body, field, status) in [
        (json!({"name": "x", "trigger": "event", "event_type": "order_paid", "points": 1}), "event_type", 422),
        (json!({"name": "x", "trigger": "event", "event_type": "custom.a"}), "points", 422),
        (json!({"name": "x", "trigger": "order_paid", "points_per_unit": 1, "unit": 0}), "unit", 422),
        (json!({"name": "x", "trigger": "order_paid", "points_per_unit": 1, "unit": 1, "points": 3}), "points", 422),
        (
            json!({"name": "x", "trigger": "order_paid", "points_per_unit": 1, "unit": 1, "tiers": ["gold"]}),
            "tiers[0]",
            404,
        ),
    ] {
        let r = app.post("/v1/points-rules", body.clone()).await;
        assert_eq!((r.status.as_u16(), r.field()), (status, field), "{body}: {:?}", r.body);
    }
    let other = app.other_workspace("o").await;
    let list = app.send(reqwest::Method::GET, "/v1/points-rules", Some(&other), None).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));
}
