//! The points mall: stock and per-member limits under concurrent
//! redemptions, eligibility, fulfilment, cancellation restoring lots, and
//! what the shop hears.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::checkin::{assert_ledger_consistent, balance, ledger, member};
use crate::helpers::{Resp, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn item(app: &TestApp, body: serde_json::Value) -> String {
    let r = app.post("/v1/mall/items", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn redeem(app: &TestApp, item: &str, m: &str, quantity: i64) -> Resp {
    app.post(&format!("/v1/mall/items/{item}/redemptions"), json!({"member_id": m, "quantity": quantity})).await
}

async fn fund(app: &TestApp, m: &str, points: i64) {
    let r = app.post(&format!("/v1/members/{m}/points/adjustments"), json!({"delta": points, "note": "fund"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn stock_of_five_with_fifty_concurrent_redeemers_makes_five_redemptions() {
    let app = TestApp::spawn().await;
    let cup = item(&app, json!({"name": "保温杯", "kind": "goods", "points_cost": 100, "stock": 5})).await;
    let mut members = Vec::new();
    for i in 0..50 {
        let m = member(&app, &format!("m{i}")).await;
        fund(&app, &m, 150).await;
        members.push(m);
    }
    let answers = join_all(members.iter().map(|m| redeem(&app, &cup, m, 1))).await;
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 5, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "out_of_stock"), "{:?}", r.body);
    }
    assert_eq!(ok[0].body["status"], "pending_fulfilment");
    assert_eq!((ok[0].body["points_spent"].as_i64(), ok[0].body["balance"].as_i64()), (Some(100), Some(50)));
    let got = app.get(&format!("/v1/mall/items/{cup}")).await;
    assert_eq!((got.body["stock"].as_i64(), got.body["redeemed"].as_i64()), (Some(0), Some(5)));
    let mut debited = 0;
    for m in &members {
        let b = balance(&app, m).await;
        assert!(b == 150 || b == 50, "{b}");
        debited += (b == 50) as i32;
    }
    assert_eq!(debited, 5, "nobody is debited without a redemption");
}

#[tokio::test]
async fn a_per_member_limit_holds_under_concurrency_and_resets_with_the_local_day() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T10:00:00Z")); // 18:00 in Shanghai
    let m = member(&app, "Ann").await;
    fund(&app, &m, 1000).await;
    let tea = item(
        &app,
        json!({"name": "tea", "kind": "custom", "points_cost": 10,
        "per_member_limit": {"count": 1, "period": "day"}, "auto_fulfil": true}),
    )
    .await;
    let answers = join_all((0..20).map(|_| redeem(&app, &tea, &m, 1))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1, "{answers:#?}");
    let limited = answers.iter().find(|r| r.status == StatusCode::CONFLICT).unwrap();
    assert_eq!((limited.code(), limited.body["error"]["redeemed"].as_i64()), ("limit_reached", Some(1)));
    assert_eq!(balance(&app, &m).await, 990);
    let done = answers.iter().find(|r| r.status == StatusCode::CREATED).unwrap();
    assert_eq!(done.body["status"], "fulfilled");
    // 16:00 UTC is midnight in Shanghai: a new day.
    app.clock.set(at("2026-12-01T15:59:00Z"));
    assert_eq!(redeem(&app, &tea, &m, 1).await.code(), "limit_reached");
    app.clock.set(at("2026-12-01T16:00:00Z"));
    assert_eq!(redeem(&app, &tea, &m, 1).await.status, StatusCode::CREATED);
    assert_eq!(redeem(&app, &tea, &m, 2).await.code(), "limit_reached");
    assert_ledger_consistent(&app, &m).await;
}

#[tokio::test]
async fn refusals_change_nothing_and_name_their_reason() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Bo").await;
    fund(&app, &m, 50).await;
    let pen = item(&app, json!({"name": "pen", "kind": "goods", "points_cost": 60, "stock": 3})).await;
    let r = redeem(&app, &pen, &m, 1).await;
    assert_eq!(
        (r.status, r.code(), r.body["error"]["balance"].as_i64()),
        (StatusCode::CONFLICT, "insufficient_points", Some(50))
    );
    assert_eq!(app.get(&format!("/v1/mall/items/{pen}")).await.body["stock"], 3);
    let vip = item(&app, json!({"name": "vip gift", "kind": "goods", "points_cost": 1, "tiers": ["vip"]})).await;
    assert_eq!(redeem(&app, &vip, &m, 1).await.code(), "not_eligible");
    app.put(&format!("/v1/members/{m}/tier"), json!({"tier": "vip"})).await;
    assert_eq!(redeem(&app, &vip, &m, 1).await.status, StatusCode::CREATED);
    app.patch(&format!("/v1/mall/items/{vip}"), json!({"status": "paused"})).await;
    assert_eq!(redeem(&app, &vip, &m, 1).await.code(), "not_active");
    let later =
        item(&app, json!({"name": "later", "kind": "goods", "points_cost": 1, "starts_at": "2030-01-01T00:00:00Z"}))
            .await;
    assert_eq!(redeem(&app, &later, &m, 1).await.code(), "not_active");
    for (body, field) in [
        (json!({"name": "c", "kind": "coupon", "points_cost": 1}), "kind"),
        (json!({"name": "c", "kind": "goods", "points_cost": 0}), "points_cost"),
        (json!({"name": "c", "kind": "goods", "points_cost": 1, "stock": -1}), "stock"),
        (
            json!({"name": "c", "kind": "goods", "points_cost": 1, "per_member_limit": {"count": 0, "period": "day"}}),
            "per_member_limit.count",
        ),
    ] {
        let r = app.post("/v1/mall/items", body.clone()).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {:?}", r.body);
    }
    let r =
        app.post("/v1/mall/items", json!({"name": "c", "kind": "goods", "points_cost": 1, "tiers": ["gold"]})).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "tiers[0]"));
    let r = redeem(&app, &pen, &uuid::Uuid::now_v7().to_string(), 1).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "member_id"));
    let other = app.other_workspace("o").await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/mall/items/{pen}/redemptions"),
            Some(&other),
            Some(json!({"member_id": m})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancelling_restores_stock_and_the_same_lots_or_a_fresh_one_for_expired_points() {
    let app = TestApp::spawn().await; // Asia/Shanghai
    app.patch("/v1/workspace", json!({"points": {"expiry": {"kind": "after_days", "days": 1}}})).await;
    app.clock.set(at("2026-12-01T02:00:00Z"));
    let m = member(&app, "Cy").await;
    fund(&app, &m, 30).await; // expires 3 Dec 00:00 local (2 Dec 16:00 UTC)
    app.clock.set(at("2026-12-02T02:00:00Z"));
    fund(&app, &m, 50).await; // expires 3 Dec 16:00 UTC
    let bag = item(&app, json!({"name": "bag", "kind": "goods", "points_cost": 40, "stock": 2})).await;
    let r = redeem(&app, &bag, &m, 1).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let rid = r.id();
    // The first lot (30) expired meanwhile; 10 of the second remain open.
    app.clock.set(at("2026-12-02T17:00:00Z"));
    let c = app.post(&format!("/v1/mall/redemptions/{rid}/cancel"), json!({})).await;
    assert_eq!((c.status, c.body["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{:?}", c.body);
    assert_eq!(app.get(&format!("/v1/mall/items/{bag}")).await.body["stock"], 2);
    assert_eq!(balance(&app, &m).await, 80);
    // 10 went back to the second lot (expiring 3 Dec 16:00 UTC); the 30 of
    // the expired first lot are a fresh lot expiring at the end of 3 Dec local.
    let p = app.get(&format!("/v1/members/{m}/points")).await;
    assert_eq!(
        p.body["expiring"],
        json!([{"points": 50, "expires_at": "2026-12-03T16:00:00Z"},
                                          {"points": 30, "expires_at": "2026-12-04T16:00:00Z"}]),
        "{:?}",
        p.body
    );
    let again = app.post(&format!("/v1/mall/redemptions/{rid}/cancel"), json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "not_pending"));
    let r = redeem(&app, &bag, &m, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let f = app.post(&format!("/v1/mall/redemptions/{}/fulfil", r.id()), json!({"tracking": "SF1234"})).await;
    assert_eq!((f.body["status"].as_str(), f.body["tracking"].as_str()), (Some("fulfilled"), Some("SF1234")));
    let x = app.post(&format!("/v1/mall/redemptions/{}/cancel", r.id()), json!({})).await;
    assert_eq!(x.code(), "not_pending");
    let list = app.get(&format!("/v1/mall/redemptions?member_id={m}&status=fulfilled")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_ledger_consistent(&app, &m).await;
    let entries = ledger(&app, &m).await;
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["spend", "adjust", "spend", "adjust", "adjust"]);
    assert_eq!((entries[1]["source"]["type"].as_str(), entries[1]["delta"].as_i64()), (Some("refund"), Some(40)));
}

#[tokio::test]
async fn a_retried_redemption_with_its_idempotency_key_redeems_once_and_the_shop_hears_of_it() {
    let app = crate::outbound::spawn().await;
    let rx = crate::outbound::Receiver::start().await;
    crate::outbound::endpoint(&app, &rx.url("/shop"), &["mall.redemption_created", "points.spent"]).await;
    let m = member(&app, "Di").await;
    app.patch(&format!("/v1/members/{m}"), json!({"phone": "+8613800000000"})).await;
    fund(&app, &m, 500).await;
    let mug = item(&app, json!({"name": "mug", "kind": "goods", "points_cost": 120, "stock": 10})).await;
    let send = || {
        app.client
            .post(format!("{}/v1/mall/items/{mug}/redemptions", app.base))
            .bearer_auth(&app.key)
            .header("idempotency-key", "shop-order-77")
            .json(&json!({"member_id": m}))
            .send()
    };
    let a: serde_json::Value = send().await.unwrap().json().await.unwrap();
    let b: serde_json::Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    assert_eq!(balance(&app, &m).await, 380);
    crate::outbound::drain(&app).await;
    let got: Vec<serde_json::Value> = rx.got().iter().map(|g| g.json()).collect();
    let kinds: Vec<String> = got.iter().map(|g| g["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "mall.redemption_created").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "points.spent").count(), 1, "{kinds:?}");
    let created = got.iter().find(|g| g["type"] == "mall.redemption_created").unwrap();
    assert_eq!(
        (created["data"]["item_name"].as_str(), created["data"]["points_spent"].as_i64()),
        (Some("mug"), Some(120))
    );
    assert!(created["data"]["phone"].is_null(), "no personal data without include_pii");
}
