//! Coupons: totals and per-member limits under concurrent claims, quotes in
//! integer money, locking to an order, redemption by `order_paid` (once,
//! whatever is redelivered), release and refund, validity in local time,
//! operator issues, and tenancy.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkin::member;
use crate::helpers::{Resp, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn template(app: &TestApp, body: Value) -> String {
    let r = app.post("/v1/coupon-templates", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

fn amount_off(total: Option<i64>, limit: i64) -> Value {
    json!({"name": "VIP 满100减20", "discount": {"kind": "threshold", "min_spend": 10000, "amount": 2000},
           "validity": {"kind": "after_claim", "days": 7}, "total": total, "per_member_limit": limit})
}

async fn claim(app: &TestApp, t: &str, m: &str) -> Resp {
    app.post(&format!("/v1/coupon-templates/{t}/claims"), json!({"member_id": m})).await
}

fn cart(items: &[(&str, i64, i64)]) -> Value {
    json!({"currency": "CNY", "items": items.iter().map(|(p, price, q)|
        json!({"product_id": p, "unit_price": price, "quantity": q})).collect::<Vec<_>>()})
}

async fn events_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/events?type={kind}&limit=200")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_total_of_one_with_128_concurrent_claims_gives_one_coupon() {
    let app = TestApp::spawn().await;
    let t = template(&app, amount_off(Some(1), 1)).await;
    let mut members = Vec::new();
    for i in 0..128 {
        members.push(member(&app, &format!("c{i}")).await);
    }
    let answers = join_all(members.iter().map(|m| claim(&app, &t, m))).await;
    let ok = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(ok, 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "out_of_stock"), "{:?}", r.body);
    }
    let got = app.get(&format!("/v1/coupon-templates/{t}")).await.body;
    assert_eq!((got["issued"].clone(), got["remaining"].clone()), (json!(1), json!(0)));
    assert_eq!(app.count("coupons").await, 1);
    assert_eq!(events_of(&app, "coupon_claimed").await.len(), 1, "a refused claim records nothing");
}

#[tokio::test]
async fn a_limit_of_one_with_20_concurrent_claims_by_one_member_gives_one() {
    let app = TestApp::spawn().await;
    let t = template(&app, amount_off(None, 1)).await;
    let m = member(&app, "one").await;
    let answers = join_all((0..20).map(|_| claim(&app, &t, &m))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "limit_reached"), "{:?}", r.body);
    }
    // A limit of 3: three coupons, then no more, concurrently too.
    let three = template(&app, amount_off(None, 3)).await;
    let answers = join_all((0..10).map(|_| claim(&app, &three, &m))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 3);
    assert_eq!(app.get(&format!("/v1/coupon-templates/{three}")).await.body["issued"], 3);
}

#[tokio::test]
async fn a_coupon_is_quoted_locked_to_one_order_and_redeemed_once_by_its_payment() {
    let app = TestApp::spawn().await;
    let t = template(&app, amount_off(None, 2)).await;
    let lily = member(&app, "lily").await;
    let other = member(&app, "other").await;
    let c = claim(&app, &t, &lily).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    let (id, code) = (c.id(), c.body["code"].as_str().unwrap().to_owned());
    assert_eq!(code.len(), 13);
    assert_eq!(c.body["status"], "claimed");

    // Quote: 满100减20 over three lines, largest remainder, nothing changes.
    let basket = cart(&[("a", 3333, 1), ("b", 3333, 1), ("c", 3334, 1)]);
    let typed = format!("{}-{}", &code[..5], &code[5..]).to_lowercase();
    let q = app.post("/v1/coupons/quote", json!({"code": typed, "member_id": lily, "cart": basket})).await;
    assert_eq!(q.status, StatusCode::OK, "{:?}", q.body);
    assert_eq!(
        (q.body["valid"].clone(), q.body["discount"].clone(), q.body["payable"].clone()),
        (json!(true), json!(2000), json!(8000))
    );
    let lines: Vec<i64> = q.body["lines"].as_array().unwrap().iter().map(|l| l["discount"].as_i64().unwrap()).collect();
    assert_eq!(lines.iter().sum::<i64>(), 2000);
    assert_eq!(lines, vec![667, 666, 667], "the largest remainders get the cents, the earlier line first");
    let short = app
        .post("/v1/coupons/quote", json!({"coupon_id": id, "member_id": lily, "cart": cart(&[("a", 9999, 1)])}))
        .await;
    assert_eq!(
        (short.body["valid"].clone(), short.body["reasons"].clone(), short.body["payable"].clone()),
        (json!(false), json!(["min_spend_not_met"]), json!(9999))
    );
    let theirs = app.post("/v1/coupons/quote", json!({"coupon_id": id, "member_id": other, "cart": basket})).await;
    assert_eq!(theirs.body["reasons"], json!(["not_yours"]));
    assert_eq!(app.get(&format!("/v1/coupons/{id}")).await.body["status"], "claimed", "a quote changes nothing");

    // Redeem: locked to A1; A1 again answers the same; A2 is refused.
    let body = json!({"order_id": "A1", "member_id": lily, "cart": basket});
    let r = app.post(&format!("/v1/coupons/{id}/redeem"), body.clone()).await;
    assert_eq!((r.status, r.body["discount"].clone()), (StatusCode::OK, json!(2000)), "{:?}", r.body);
    let again = app.post(&format!("/v1/coupons/{id}/redeem"), body).await;
    assert_eq!(
        (again.status, again.body["discount"].clone(), again.body["lines"].clone()),
        (StatusCode::OK, json!(2000), r.body["lines"].clone())
    );
    let other_order = app
        .post(&format!("/v1/coupons/{id}/redeem"), json!({"order_id": "A2", "member_id": lily, "cart": basket}))
        .await;
    assert_eq!((other_order.status, other_order.code()), (StatusCode::CONFLICT, "already_redeemed"));
    let got = app.get(&format!("/v1/coupons/{id}")).await.body;
    assert_eq!(
        (got["status"].clone(), got["order_id"].clone(), got["discount_applied"].clone()),
        (json!("locked"), json!("A1"), json!(2000))
    );

    // The payment carrying the code redeems it, once, however often it is delivered.
    let paid = json!([{"id": "pay-A1", "type": "order_paid", "occurred_at": "2026-11-20T02:00:00Z", "member_id": lily,
        "order_id": "A1", "amount": 8000, "currency": "CNY", "coupon_code": code}]);
    for _ in 0..2 {
        let r = app.post("/v1/events", paid.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let got = app.get(&format!("/v1/coupons/{id}")).await.body;
    assert_eq!((got["status"].clone(), got["redeemed_at"].is_string()), (json!("redeemed"), true), "{got}");
    let redeemed = events_of(&app, "coupon_redeemed").await;
    assert_eq!(redeemed.len(), 1, "{redeemed:?}");
    assert_eq!(
        (redeemed[0]["order_id"].clone(), redeemed[0]["properties"]["discount"].clone()),
        (json!("A1"), json!(2000))
    );
    assert_eq!(events_of(&app, "coupon_claimed").await.len(), 1);
    let release = app.post(&format!("/v1/coupons/{id}/release"), json!({"order_id": "A1"})).await;
    assert_eq!((release.status, release.code()), (StatusCode::CONFLICT, "not_locked"), "a paid coupon stays used");

    // Stats: one given, one redeemed, the discount and the order's amount; by group.
    let g = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-9", "name": "g"})).await.id();
    let second =
        app.post(&format!("/v1/coupon-templates/{t}/claims"), json!({"member_id": other, "group_id": g})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let stats = app.get(&format!("/v1/coupon-templates/{t}/stats")).await.body;
    assert_eq!(
        stats["total"],
        json!({"given": 2, "issued": 0, "claimed": 2, "locked": 0, "redeemed": 1, "expired": 0,
        "void": 0, "redemption_rate": 0.5, "discount": 2000, "gmv": 8000})
    );
    let groups: Vec<(Value, i64)> = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["group_id"].clone(), r["given"].as_i64().unwrap()))
        .collect();
    assert_eq!(groups, vec![(json!(g), 1), (Value::Null, 1)]);
    let csv = app.get_text(&format!("/v1/coupon-templates/{t}/stats?format=csv")).await;
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[tokio::test]
async fn an_order_takes_one_non_stackable_coupon_and_a_cancelled_order_gives_it_back() {
    let app = TestApp::spawn().await;
    let t = template(&app, json!({"name": "减5", "discount": {"kind": "amount_off", "amount": 500},
        "validity": {"kind": "fixed", "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-21T00:00:00Z"}, "per_member_limit": 2})).await;
    let m = member(&app, "m").await;
    let (a, b) = (claim(&app, &t, &m).await.id(), claim(&app, &t, &m).await.id());
    let basket = cart(&[("x", 300, 1)]);
    let r =
        app.post(&format!("/v1/coupons/{a}/redeem"), json!({"order_id": "O1", "member_id": m, "cart": basket})).await;
    assert_eq!(
        (r.body["discount"].clone(), r.body["payable"].clone()),
        (json!(300), json!(0)),
        "never a negative payable"
    );
    let second =
        app.post(&format!("/v1/coupons/{b}/redeem"), json!({"order_id": "O1", "member_id": m, "cart": basket})).await;
    assert_eq!((second.status, second.code()), (StatusCode::CONFLICT, "order_has_coupon"));
    assert_eq!(app.get(&format!("/v1/coupons/{b}")).await.body["status"], "claimed");
    // The order is cancelled: the coupon is back for another order.
    let back = app.post(&format!("/v1/coupons/{a}/release"), json!({"order_id": "O1"})).await;
    assert_eq!(
        (back.status, back.body["status"].clone(), back.body["order_id"].clone()),
        (StatusCode::OK, json!("claimed"), Value::Null)
    );
    let r =
        app.post(&format!("/v1/coupons/{b}/redeem"), json!({"order_id": "O1", "member_id": m, "cart": basket})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Released after its validity: expired, not claimed.
    app.clock.set(at("2026-11-21T00:00:00Z"));
    let late = app.post(&format!("/v1/coupons/{b}/release"), json!({"order_id": "O1"})).await;
    assert_eq!(late.body["status"], "expired");
    assert_eq!(app.get(&format!("/v1/coupons/{a}")).await.body["status"], "expired", "unused past validity");
    let q = app.post("/v1/coupons/quote", json!({"coupon_id": a, "member_id": m, "cart": basket})).await;
    assert_eq!(q.body["reasons"], json!(["expired"]));
    let claim_late = claim(&app, &t, &m).await;
    assert_eq!((claim_late.status, claim_late.code()), (StatusCode::CONFLICT, "not_active"));
}

#[tokio::test]
async fn after_claim_validity_ends_at_a_local_midnight_and_the_job_writes_expired() {
    let app = TestApp::spawn().await;
    let t = template(&app, amount_off(None, 1)).await;
    let m = member(&app, "tz").await;
    // 14:00 in Shanghai on 20 November: the 7th day ends at 27 November 00:00 local.
    app.clock.set(at("2026-11-20T06:00:00Z"));
    let c = claim(&app, &t, &m).await;
    assert_eq!(
        (c.body["valid_from"].clone(), c.body["valid_until"].clone()),
        (json!("2026-11-20T06:00:00Z"), json!("2026-11-26T16:00:00Z"))
    );
    let id = c.id();
    app.clock.set(at("2026-11-26T15:59:59Z"));
    assert_eq!(app.get(&format!("/v1/coupons/{id}")).await.body["status"], "claimed");
    app.clock.set(at("2026-11-26T16:00:00Z"));
    assert_eq!(app.get(&format!("/v1/coupons/{id}")).await.body["status"], "expired", "read as expired at once");
    let listed = app.get(&format!("/v1/coupons?status=expired&member_id={m}")).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT status FROM coupons").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, "expired");
}

#[tokio::test]
async fn a_refund_gives_the_coupon_back_only_where_the_template_says_and_only_whole() {
    let app = TestApp::spawn().await;
    let keep = template(
        &app,
        json!({"name": "k", "discount": {"kind": "percent_off", "percent": 10, "max_amount": 500},
        "validity": {"kind": "after_claim", "days": 30}, "restore_on_refund": true, "per_member_limit": 5}),
    )
    .await;
    let m = member(&app, "r").await;
    let pay = |n: u32, order: &str, code: &str, amount: i64| {
        json!([{"id": format!("e{n}"), "type": "order_paid", "occurred_at": "2026-11-20T02:00:00Z", "member_id": m,
            "order_id": order, "amount": amount, "currency": "CNY", "coupon_code": code}])
    };
    let refund = |n: u32, order: &str, amount: i64| {
        json!([{"id": format!("r{n}"), "type": "order_refunded", "occurred_at": "2026-11-20T03:00:00Z", "member_id": m,
            "order_id": order, "amount": amount, "currency": "CNY"}])
    };
    // Applied by the shop without a lock: the payment redeems it all the same.
    let c1 = claim(&app, &keep, &m).await.body;
    app.post("/v1/events", pay(1, "P1", c1["code"].as_str().unwrap(), 9000)).await;
    let id1 = c1["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/coupons/{id1}")).await.body["status"], "redeemed");
    // A partial refund keeps it used; the whole refund gives it back.
    app.post("/v1/events", refund(1, "P1", 1000)).await;
    assert_eq!(app.get(&format!("/v1/coupons/{id1}")).await.body["status"], "redeemed");
    app.post("/v1/events", refund(2, "P1", 9000)).await;
    let back = app.get(&format!("/v1/coupons/{id1}")).await.body;
    assert_eq!((back["status"].clone(), back["order_id"].clone()), (json!("claimed"), Value::Null));
    // Without `restore_on_refund` it stays used.
    let once = template(
        &app,
        json!({"name": "o", "discount": {"kind": "amount_off", "amount": 100},
        "validity": {"kind": "after_claim", "days": 30}}),
    )
    .await;
    let c2 = claim(&app, &once, &m).await.body;
    app.post("/v1/events", pay(2, "P2", c2["code"].as_str().unwrap(), 5000)).await;
    app.post("/v1/events", refund(3, "P2", 5000)).await;
    assert_eq!(app.get(&format!("/v1/coupons/{}", c2["id"].as_str().unwrap())).await.body["status"], "redeemed");
}

#[tokio::test]
async fn an_operator_issues_to_a_group_within_the_total_and_a_retried_batch_issues_nothing_new() {
    let app = TestApp::spawn().await;
    let g = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-5", "name": "g"})).await.id();
    let mut members = Vec::new();
    for i in 0..6 {
        let m = member(&app, &format!("i{i}")).await;
        let r = app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": m})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        members.push(m);
    }
    let t = template(&app, amount_off(Some(4), 1)).await;
    claim(&app, &t, &members[0]).await;
    let send = |key: &'static str| {
        let (app, t, g) = (&app, t.clone(), g.clone());
        async move {
            let r = app
                .client
                .post(format!("{}/v1/coupon-templates/{t}/issues", app.base))
                .bearer_auth(&app.key)
                .header("idempotency-key", key)
                .json(&json!({"target": {"group_id": g}}))
                .send()
                .await
                .unwrap();
            crate::helpers::to_resp(r).await
        }
    };
    let r = send("batch-1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        (r.body["issued"].clone(), r.body["skipped"].clone()),
        (json!(3), json!({"limit_reached": 1, "not_eligible": 0, "out_of_stock": 2}))
    );
    let again = send("batch-1").await;
    assert_eq!(again.body, r.body, "replayed");
    assert_eq!(app.count("coupons").await, 4, "never past the total");
    let next = send("batch-2").await;
    assert_eq!((next.status, next.body["issued"].clone()), (StatusCode::CREATED, json!(0)));
    // Eligibility: only VIP members.
    app.post("/v1/tiers", json!({"key": "vip", "name": "VIP"})).await;
    app.put(&format!("/v1/members/{}/tier", members[5]), json!({"tier": "vip"})).await;
    let vip = template(
        &app,
        json!({"name": "vip", "discount": {"kind": "amount_off", "amount": 100},
        "validity": {"kind": "after_claim", "days": 1}, "eligible": {"tier": "vip"}}),
    )
    .await;
    let refused = claim(&app, &vip, &members[0]).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "not_eligible"));
    let r = app.post(&format!("/v1/coupon-templates/{vip}/issues"), json!({"target": {"member_ids": members}})).await;
    assert_eq!(
        (r.body["issued"].clone(), r.body["skipped"]["not_eligible"].clone()),
        (json!(1), json!(5)),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn bad_templates_are_refused_naming_the_field_and_other_workspaces_see_nothing() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (
            json!({"name": "x", "discount": {"kind": "percent_off", "percent": 0}, "validity": {"kind": "after_claim", "days": 1}}),
            "discount.percent",
        ),
        (
            json!({"name": "x", "discount": {"kind": "amount_off", "amount": 1},
                "validity": {"kind": "fixed", "starts_at": "2026-11-02T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}}),
            "validity.ends_at",
        ),
        (
            json!({"name": "x", "discount": {"kind": "amount_off", "amount": 1}, "validity": {"kind": "after_claim", "days": 1},
                "eligible": {"tier": "vip", "joined_within_days": 3}}),
            "eligible",
        ),
        (
            json!({"name": "x", "discount": {"kind": "amount_off", "amount": 1}, "validity": {"kind": "after_claim", "days": 1},
                "products": ["a", "a"]}),
            "products[1]",
        ),
        (
            json!({"name": "x", "discount": {"kind": "amount_off", "amount": 1}, "validity": {"kind": "after_claim", "days": 1},
                "currency": "rmb"}),
            "currency",
        ),
    ] {
        let r = app.post("/v1/coupon-templates", body).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{:?}", r.body);
    }
    let unknown = app
        .post(
            "/v1/coupon-templates",
            json!({"name": "x", "discount": {"kind": "amount_off", "amount": 1},
        "validity": {"kind": "after_claim", "days": 1}, "eligible": {"tier": "nope"}}),
        )
        .await;
    assert_eq!((unknown.status, unknown.field()), (StatusCode::NOT_FOUND, "eligible.tier"));
    assert_eq!(app.count("coupon_templates").await, 0);

    let t = template(&app, amount_off(Some(10), 1)).await;
    let m = member(&app, "t").await;
    let c = claim(&app, &t, &m).await.id();
    let lower = app.patch(&format!("/v1/coupon-templates/{t}"), json!({"total": 0})).await;
    assert_eq!((lower.status, lower.code()), (StatusCode::CONFLICT, "below_issued"));
    let other = app.other_workspace("other").await;
    for path in [format!("/v1/coupon-templates/{t}"), format!("/v1/coupons/{c}")] {
        let r = app.send(Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app.send(Method::GET, "/v1/coupons", Some(&other), None).await;
    assert_eq!(r.body["items"], json!([]));
    let theirs = app
        .send(Method::POST, &format!("/v1/coupon-templates/{t}/claims"), Some(&other), Some(json!({"member_id": m})))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_burst_of_claims_shares_transactions_and_gives_exactly_the_total() {
    let app = TestApp::spawn().await;
    let t = template(&app, amount_off(Some(30), 1)).await;
    let mut members = Vec::new();
    for i in 0..40 {
        members.push(member(&app, &format!("burst{i}")).await);
    }
    // Each member twice: the second claim of a member in a batch goes alone, and is refused.
    let asks: Vec<&String> = members.iter().chain(members.iter()).collect();
    let answers = join_all(asks.iter().map(|m| claim(&app, &t, m))).await;
    let ok = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(ok, 30, "{:?}", answers.iter().map(|r| (r.status, r.code().to_owned())).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert!(["out_of_stock", "limit_reached"].contains(&r.code()), "{:?}", r.body);
    }
    let holders: Vec<(i32,)> = sqlx::query_as("SELECT held FROM coupon_holders").fetch_all(&app.pool).await.unwrap();
    assert!(holders.iter().all(|(h,)| *h <= 1), "no member past the limit: {holders:?}");
    assert_eq!(holders.iter().map(|(h,)| *h as i64).sum::<i64>(), 30, "the counts follow the coupons given");
    let xmins: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM coupons").fetch_one(&app.pool).await.unwrap();
    assert!(xmins < 30, "the claims shared transactions: {xmins} for 30 coupons");
    assert_eq!(events_of(&app, "coupon_claimed").await.len(), 30);
}

/// An app whose requests start no campaign job: the test runs them.
async fn without_jobs() -> TestApp {
    let mut settings = crate::helpers::test_settings();
    settings.workers.campaign_jobs = false;
    TestApp::spawn_with(settings).await
}

#[tokio::test]
async fn a_large_target_is_issued_by_a_job_in_chunks_with_progress_and_never_twice() {
    let app = without_jobs().await;
    let g = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-big", "name": "big"})).await.id();
    let group = json!({"platform": "telegram", "external_id": "-big"});
    for batch in 0..3 {
        let joins: Vec<Value> = (0..500)
            .map(|i| {
                let n = batch * 500 + i;
                json!({"id": format!("j{n}"), "type": "member_joined", "occurred_at": "2026-11-19T01:00:00Z",
                       "member": {"platform": "telegram", "external_id": format!("u{n}")}, "group": group})
            })
            .collect();
        let r = app.post("/v1/events", json!(joins)).await;
        assert_eq!(r.body["accepted"], 500, "{:?}", r.body);
    }
    // 1,500 in the group; a total of 1,200; 5 already hold one (limit 1).
    let t = template(&app, amount_off(Some(1_200), 1)).await;
    let first: Vec<String> = sqlx::query_scalar("SELECT id::text FROM members ORDER BY id DESC LIMIT 5")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    for m in &first {
        assert_eq!(claim(&app, &t, m).await.status, StatusCode::CREATED);
    }
    let r = app.post(&format!("/v1/coupon-templates/{t}/issues"), json!({"target": {"group_id": g}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(
        (r.body["status"].clone(), r.body["total"].clone(), r.body["processed"].clone()),
        (json!("queued"), json!(1500), json!(0))
    );
    let id = r.id();
    assert_eq!(app.get(&format!("/v1/coupon-issues/{id}")).await.body["status"], "queued");
    // Two instances' campaign jobs at once: each chunk is done by one.
    let (a, b) = tokio::join!(
        shequn::jobs::run_campaign_jobs_once(&app.state),
        shequn::jobs::run_campaign_jobs_once(&app.state)
    );
    a.unwrap();
    b.unwrap();
    let issue = app.get(&format!("/v1/coupon-issues/{id}")).await.body;
    assert_eq!(issue["status"], "done", "{issue:?}");
    assert_eq!(
        (issue["processed"].clone(), issue["issued"].clone(), issue["skipped"].clone()),
        (json!(1500), json!(1195), json!({"limit_reached": 5, "not_eligible": 0, "out_of_stock": 300}))
    );
    assert!(issue["finished_at"].is_string());
    let (coupons, twice, from_issue, snapshot): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM coupons),
                (SELECT count(*) FROM (SELECT member_id FROM coupons GROUP BY member_id HAVING count(*) > 1) x),
                (SELECT count(*) FROM coupons WHERE issue_id = $1::uuid),
                (SELECT count(*) FROM coupon_issue_members)",
    )
    .bind(&id)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!((coupons, twice, from_issue, snapshot), (1_200, 0, 1_195, 0), "the total, once each, snapshot dropped");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'coupon_claimed'")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(events, 1_200, "one event per coupon");
    // A pass with nothing queued does nothing.
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(app.count("coupons").await, 1_200);
    // Listed by template; another workspace sees nothing of it.
    let list = app.get(&format!("/v1/coupon-issues?template_id={t}&status=done")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{:?}", list.body);
    let other = app.other_workspace("other").await;
    let seen = app.send(Method::GET, &format!("/v1/coupon-issues/{id}"), Some(&other), None).await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
    let theirs = app.send(Method::GET, "/v1/coupon-issues", Some(&other), None).await;
    assert_eq!(theirs.body["items"], json!([]));
    // A small target answers done at once, with its record.
    let small = template(&app, amount_off(None, 1)).await;
    let r = app.post(&format!("/v1/coupon-templates/{small}/issues"), json!({"target": {"member_ids": first}})).await;
    assert_eq!(
        (r.status, r.body["status"].clone(), r.body["issued"].clone()),
        (StatusCode::CREATED, json!("done"), json!(5))
    );
    let kept = app.get(&format!("/v1/coupon-issues/{}", r.id())).await.body;
    assert_eq!((kept["processed"].clone(), kept["target"].clone()), (json!(5), json!({"member_count": 5})));
    assert_eq!(list.body["items"][0]["target"], json!({"group_id": g}));
}

#[tokio::test]
async fn a_queued_issue_stops_when_its_template_is_paused_and_an_erased_member_is_skipped() {
    let app = without_jobs().await;
    let events: Vec<Value> = (0..1_001)
        .map(|i| {
            json!({"id": format!("m{i}"), "type": "message_sent", "occurred_at": "2026-11-19T01:00:00Z",
                   "member": {"platform": "telegram", "external_id": format!("m{i}")}})
        })
        .collect();
    for chunk in events.chunks(500) {
        assert_eq!(app.post("/v1/events", json!(chunk)).await.status, StatusCode::OK);
    }
    let all: Vec<String> =
        sqlx::query_scalar("SELECT id::text FROM members ORDER BY id").fetch_all(&app.state.pool).await.unwrap();
    assert_eq!(all.len(), 1_001);
    let t = template(&app, amount_off(None, 1)).await;
    let r = app.post(&format!("/v1/coupon-templates/{t}/issues"), json!({"target": {"member_ids": all}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let paused = app.patch(&format!("/v1/coupon-templates/{t}"), json!({"status": "paused"})).await;
    assert_eq!(paused.status, StatusCode::OK, "{:?}", paused.body);
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let issue = app.get(&format!("/v1/coupon-issues/{}", r.id())).await.body;
    assert_eq!((issue["status"].clone(), issue["issued"].clone()), (json!("failed"), json!(0)), "{issue:?}");
    assert!(issue["error"].as_str().unwrap().contains("paused"), "{issue:?}");
    assert_eq!(app.count("coupons").await, 0);
    // Active again, a new issue of the same target: a member erased after
    // it was asked is skipped, the rest issued.
    app.patch(&format!("/v1/coupon-templates/{t}"), json!({"status": "active"})).await;
    let r = app.post(&format!("/v1/coupon-templates/{t}/issues"), json!({"target": {"member_ids": all}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let erased = app.delete(&format!("/v1/members/{}", all[0])).await;
    assert!(erased.status.is_success(), "{:?}", erased.body);
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let issue = app.get(&format!("/v1/coupon-issues/{}", r.id())).await.body;
    assert_eq!(
        (issue["status"].clone(), issue["issued"].clone(), issue["skipped"]["not_eligible"].clone()),
        (json!("done"), json!(1_000), json!(1)),
        "{issue:?}"
    );
}
