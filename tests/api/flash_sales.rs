//! Flash sales: never oversold and no false sell-out under concurrent
//! reservations, per-member limits, runs in local time with their own
//! stock, confirmation by the API or a payment (once), cancellation and
//! durable expiry.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::checkin::member;
use crate::helpers::{Resp, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A daily 10:00 (Shanghai) sale of 30 minutes with one item.
async fn sale(app: &TestApp, stock: i64, limit: i64) -> String {
    let c =
        app.post("/v1/campaigns", json!({"name": "10点福利", "scene": "conversion", "kind": "flash_sale"})).await.id();
    let r = app
        .post(
            "/v1/flash-sales",
            json!({"campaign_id": c, "schedule": {"kind": "daily", "at": "10:00", "duration_minutes": 30},
                   "reservation_minutes": 15,
                   "items": [{"product_id": "sku-9", "name": "纸尿裤", "list_price": 9900, "sale_price": 5900,
                              "stock": stock, "per_member_limit": limit}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn reserve(app: &TestApp, s: &str, m: &str, quantity: i64) -> Resp {
    app.post(&format!("/v1/flash-sales/{s}/items/sku-9/reservations"), json!({"member_id": m, "quantity": quantity}))
        .await
}

async fn item(app: &TestApp, s: &str) -> Value {
    app.get(&format!("/v1/flash-sales/{s}")).await.body["items"][0].clone()
}

fn counts(i: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| i[k].as_i64().unwrap();
    (n("stock"), n("reserved"), n("sold"), n("available"))
}

#[tokio::test]
async fn ten_units_under_sixty_concurrent_buyers_make_ten_reservations_and_no_more() {
    let app = TestApp::spawn().await;
    let s = sale(&app, 10, 2).await;
    let mut members = Vec::new();
    for i in 0..60 {
        members.push(member(&app, &format!("b{i}")).await);
    }
    app.clock.set(at("2026-11-20T02:00:00Z")); // 10:00 in Shanghai
    let answers = join_all(members.iter().map(|m| reserve(&app, &s, m, 1))).await;
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 10, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "sold_out"), "{:?}", r.body);
    }
    assert_eq!((ok[0].body["price"].clone(), ok[0].body["status"].clone()), (json!(5900), json!("reserved")));
    assert_eq!(counts(&item(&app, &s).await), (10, 10, 0, 0));
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM flash_sale_reservations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 10, "a refused reservation leaves nothing behind");

    // One member, a limit of 2, ten tries at once: two units.
    let s2 = sale(&app, 100, 2).await;
    let m = member(&app, "greedy").await;
    let answers = join_all((0..10).map(|_| reserve(&app, &s2, &m, 1))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 2);
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.code(), "limit_reached");
    }
}

#[tokio::test]
async fn buyers_asking_more_than_is_left_are_told_what_is_left_not_sold_out() {
    let app = TestApp::spawn().await;
    let s = sale(&app, 5, 3).await;
    let mut members = Vec::new();
    for i in 0..12 {
        members.push(member(&app, &format!("q{i}")).await);
    }
    app.clock.set(at("2026-11-20T02:00:00Z"));
    // Twelve buyers of two units at once for five: two get theirs, and every
    // other is told one unit is left (a false sell-out would say none).
    let answers = join_all(members.iter().map(|m| reserve(&app, &s, m, 2))).await;
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 2, "{:?}", answers.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(
            (r.status, r.code(), r.body["error"]["available"].clone()),
            (StatusCode::CONFLICT, "insufficient_stock", json!(1)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(counts(&item(&app, &s).await), (5, 4, 0, 1));
    let takers: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(taken), 0) FROM flash_sale_takers").fetch_one(&app.pool).await.unwrap();
    assert_eq!(takers, 4, "a refused buyer's count is given back");
    // The last unit goes to one of many asking for one.
    let answers = join_all(members[2..].iter().map(|m| reserve(&app, &s, m, 1))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    assert!(answers.iter().filter(|r| r.status != StatusCode::CREATED).all(|r| r.code() == "sold_out"));
    assert_eq!(counts(&item(&app, &s).await), (5, 5, 0, 0));
    // The list shows each sale with its own run's stock.
    let other = sale(&app, 7, 1).await;
    let list = app.get("/v1/flash-sales").await.body;
    let shown: Vec<(String, (i64, i64, i64, i64))> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap().to_owned(), counts(&x["items"][0])))
        .collect();
    assert_eq!(shown, [(other, (7, 0, 0, 7)), (s, (5, 5, 0, 0))]);
}

#[tokio::test]
async fn runs_are_placed_in_local_time_and_each_day_has_its_own_stock() {
    let app = TestApp::spawn().await;
    let s = sale(&app, 3, 3).await;
    let m = member(&app, "a").await;
    app.clock.set(at("2026-11-20T01:59:00Z"));
    let early = reserve(&app, &s, &m, 1).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "not_started"));
    assert_eq!(early.body["error"]["starts_at"], "2026-11-20T02:00:00Z", "{:?}", early.body);
    let shown = app.get(&format!("/v1/flash-sales/{s}")).await.body;
    assert_eq!(
        (shown["on_now"].clone(), shown["occurrence"]["starts_at"].clone()),
        (json!(false), json!("2026-11-20T02:00:00Z"))
    );
    app.clock.set(at("2026-11-20T02:10:00Z"));
    assert_eq!(reserve(&app, &s, &m, 2).await.status, StatusCode::CREATED);
    let short = reserve(&app, &s, &member(&app, "b").await, 2).await;
    assert_eq!(
        (short.code(), short.body["error"]["available"].clone()),
        ("insufficient_stock", json!(1)),
        "{:?}",
        short.body
    );
    app.clock.set(at("2026-11-20T02:30:00Z"));
    let after = reserve(&app, &s, &m, 1).await;
    assert_eq!(after.code(), "not_started", "the run is over; the next is tomorrow");
    // Tomorrow's 10:00: a fresh stock of 3, and the member's limit counts anew.
    app.clock.set(at("2026-11-21T02:00:00Z"));
    assert_eq!(counts(&item(&app, &s).await), (3, 0, 0, 3));
    assert_eq!(reserve(&app, &s, &m, 3).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_payment_confirms_once_a_cancel_and_an_expiry_give_the_units_back() {
    let app = TestApp::spawn().await;
    let s = sale(&app, 2, 2).await;
    let (a, b, c) = (member(&app, "a").await, member(&app, "b").await, member(&app, "c").await);
    app.clock.set(at("2026-11-20T02:00:00Z"));
    let ra = reserve(&app, &s, &a, 1).await.id();
    let rb = reserve(&app, &s, &b, 1).await.id();
    assert_eq!(reserve(&app, &s, &c, 1).await.code(), "sold_out");

    // a pays: the order_paid carrying the reservation confirms it, once.
    let paid = json!([{"id": "pay-a", "type": "order_paid", "occurred_at": "2026-11-20T02:05:00Z", "member_id": a,
        "order_id": "F1", "amount": 5900, "currency": "CNY", "reservation_id": ra}]);
    for _ in 0..2 {
        assert_eq!(app.post("/v1/events", paid.clone()).await.status, StatusCode::OK);
    }
    let got = app.get(&format!("/v1/flash-sale-reservations/{ra}")).await.body;
    assert_eq!((got["status"].clone(), got["order_id"].clone()), (json!("confirmed"), json!("F1")));
    assert_eq!(counts(&item(&app, &s).await), (2, 1, 1, 0));
    let same = app.post(&format!("/v1/flash-sale-reservations/{ra}/confirm"), json!({"order_id": "F1"})).await;
    assert_eq!(same.status, StatusCode::OK);
    let other = app.post(&format!("/v1/flash-sale-reservations/{ra}/confirm"), json!({"order_id": "F2"})).await;
    assert_eq!(other.code(), "already_confirmed");

    // b cancels: the unit is back, and c gets it.
    let cancel = app.post(&format!("/v1/flash-sale-reservations/{rb}/cancel"), json!({})).await;
    assert_eq!((cancel.status, cancel.body["status"].clone()), (StatusCode::OK, json!("cancelled")));
    let rc = reserve(&app, &s, &c, 1).await;
    assert_eq!(rc.status, StatusCode::CREATED, "{:?}", rc.body);
    let rc = rc.id();
    // c does not pay within 15 minutes. Before the job runs, a buyer is not
    // told "sold out": the due reservation gives its unit back at once.
    app.clock.advance(Duration::minutes(16));
    let d = member(&app, "d").await;
    let rd = reserve(&app, &s, &d, 1).await;
    assert_eq!(rd.status, StatusCode::CREATED, "no false sell-out: {:?}", rd.body);
    assert_eq!(app.get(&format!("/v1/flash-sale-reservations/{rc}")).await.body["status"], "expired");
    let late = app.post(&format!("/v1/flash-sale-reservations/{rc}/confirm"), json!({"order_id": "F3"})).await;
    assert_eq!(late.code(), "reservation_expired");
    // And the job expires d's in turn, durably.
    app.clock.advance(Duration::minutes(16));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(app.get(&format!("/v1/flash-sale-reservations/{}", rd.id())).await.body["status"], "expired");
    let stock: (i32, i32, i32) =
        sqlx::query_as("SELECT stock, reserved, sold FROM flash_sale_stock").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stock, (2, 0, 1));
}

#[tokio::test]
async fn only_flash_sale_campaigns_take_sales_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = app.post("/v1/campaigns", json!({"name": "x", "scene": "activity", "kind": "check_in"})).await.id();
    let body = |campaign: &str, items: Value| json!({"campaign_id": campaign, "schedule": {"kind": "daily", "at": "10:00", "duration_minutes": 30}, "items": items});
    let item =
        json!({"product_id": "p", "name": "n", "list_price": 100, "sale_price": 50, "stock": 1, "per_member_limit": 1});
    let wrong = app.post("/v1/flash-sales", body(&c, json!([item]))).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::CONFLICT, "wrong_kind"));
    let f = app.post("/v1/campaigns", json!({"name": "f", "scene": "conversion", "kind": "flash_sale"})).await.id();
    let dear = json!({"product_id": "p", "name": "n", "list_price": 100, "sale_price": 150, "stock": 1, "per_member_limit": 1});
    let r = app.post("/v1/flash-sales", body(&f, json!([dear]))).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "items[0].sale_price"));
    let twice = app.post("/v1/flash-sales", body(&f, json!([item, item]))).await;
    assert_eq!(twice.field(), "items[1].product_id");
    let bad_time = app
        .post(
            "/v1/flash-sales",
            json!({"campaign_id": f, "items": [item],
        "schedule": {"kind": "daily", "at": "24:00", "duration_minutes": 30}}),
        )
        .await;
    assert_eq!(bad_time.field(), "schedule.at");
    assert_eq!(app.count("flash_sales").await, 0);
}

#[tokio::test]
async fn posts_show_the_coupon_and_the_runs_live_stock_when_rendered() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-08T01:00:00Z")); // 09:00 in Shanghai
    let c = app
        .post(
            "/v1/campaigns",
            json!({"name": "10点福利", "scene": "conversion", "kind": "flash_sale", "link": "https://shop.example/c/10"}),
        )
        .await
        .id();
    let t = app
        .post(
            "/v1/coupon-templates",
            json!({"name": "满100减20", "campaign_id": c, "total": 10,
                   "discount": {"kind": "threshold", "min_spend": 10000, "amount": 2000},
                   "validity": {"kind": "after_claim", "days": 7}}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let s = app
        .post(
            "/v1/flash-sales",
            json!({"campaign_id": c, "schedule": {"kind": "daily", "at": "10:00", "duration_minutes": 30},
                   "link": "https://shop.example/flash",
                   "items": [{"product_id": "sku-9", "name": "纸尿裤", "list_price": 9900, "sale_price": 5900,
                              "stock": 5, "per_member_limit": 5},
                             {"product_id": "sku-8", "name": "湿巾", "list_price": 1900, "sale_price": 990,
                              "stock": 3, "per_member_limit": 1}]}),
        )
        .await;
    assert_eq!((s.status, s.body["link"].clone()), (StatusCode::CREATED, json!("https://shop.example/flash")));
    let text = "{{coupon.name}} 剩{{coupon.remaining}}张 {{coupon.claim_link}} | \
                {{flash_sale.starts_at}}开抢 还剩{{flash_sale.remaining}}件 {{flash_sale.link}}";
    let content = app.post("/v1/contents", json!({"name": "warm-up", "kind": "text", "text": text})).await.id();
    let preview = |campaign: Option<String>| {
        let q = campaign.map(|c| format!("?campaign_id={c}")).unwrap_or_default();
        let app = &app;
        let content = content.clone();
        async move { app.get(&format!("/v1/contents/{content}/preview{q}")).await }
    };
    let r = preview(Some(c.clone())).await;
    assert_eq!(
        r.body["message"]["text"],
        "满100减20 剩10张 https://shop.example/c/10 | 10:00开抢 还剩8件 https://shop.example/flash",
        "{:?}",
        r.body
    );
    let r = preview(None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "record_required"));
    // Two coupons claimed; at 10:05 three units reserved.
    for name in ["a", "b"] {
        let m = member(&app, name).await;
        let r = app.post(&format!("/v1/coupon-templates/{}/claims", t.id()), json!({"member_id": m})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    app.clock.set(at("2026-12-08T02:05:00Z"));
    let m = member(&app, "buyer").await;
    let r = app
        .post(&format!("/v1/flash-sales/{}/items/sku-9/reservations", s.id()), json!({"member_id": m, "quantity": 3}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The SOP post at 10:10 is rendered with what stands then.
    let g = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": "-1", "name": "宝妈群", "timezone": "Asia/Shanghai"}),
        )
        .await
        .id();
    let refused = app
        .post(
            "/v1/sop-plans",
            json!({"name": "no campaign", "target": {"group_ids": [g]},
                   "steps": [{"content_id": content, "timing": {"kind": "daily", "at": "10:10"}}]}),
        )
        .await;
    assert!(refused.status.is_client_error(), "{:?}", refused.body);
    assert!(refused.body.to_string().contains("campaign variables"), "{:?}", refused.body);
    let plan = app
        .post(
            "/v1/sop-plans",
            json!({"name": "10点", "target": {"group_ids": [g]}, "campaign_id": c,
                   "steps": [{"content_id": content, "timing": {"kind": "daily", "at": "10:10"}}]}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{:?}", plan.body);
    app.clock.set(at("2026-12-08T02:10:00Z"));
    shequn::jobs::run_scheduler_once(&app.state).await.unwrap();
    let d = app.get(&format!("/v1/deliveries?plan_id={}", plan.id())).await;
    let items = d.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", d.body);
    assert_eq!(
        items[0]["message"]["text"],
        "满100减20 剩8张 https://shop.example/c/10 | 10:00开抢 还剩5件 https://shop.example/flash"
    );
    // A link card may open the sale's page; a coupon's name is no URL.
    let card = |url: &str| json!({"name": format!("card {url}"), "kind": "link", "title": "10点福利", "url": url});
    assert_eq!(app.post("/v1/contents", card("{{flash_sale.link}}")).await.status, StatusCode::CREATED);
    assert_eq!(app.post("/v1/contents", card(" {{coupon.claim_link}}")).await.status, StatusCode::CREATED);
    let bad = app.post("/v1/contents", card("{{coupon.name}}")).await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "url"));
}
