//! Bargains: cuts in whole fen that land exactly on the floor after the
//! last help, concurrent helps never past `helpers_needed`, one help per
//! helper, refusals with reasons, purchase at the floor or any price (one
//! webhook, retries answer the same), expiry, stats and tenancy.

use chrono::Duration;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;

use crate::checkin::member;
use crate::helpers::{Resp, TestApp};

/// A running bargain campaign and its bargain with `extra` settings.
pub(crate) async fn bargain(app: &TestApp, helpers: i64, extra: Value) -> String {
    let c = app
        .post(
            "/v1/campaigns",
            json!({"name": "砍价免费拿", "scene": "fission", "kind": "bargain",
                   "starts_at": app.clock.now() - Duration::hours(1)}),
        )
        .await
        .id();
    let s = app.post(&format!("/v1/campaigns/{c}/status"), json!({"status": "running"})).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let mut body = json!({"campaign_id": c, "product_id": "sku-5", "name": "保温杯",
        "list_price": 9900, "floor_price": 990, "helpers_needed": helpers, "time_limit_hours": 24});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/bargains", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn start(app: &TestApp, b: &str, m: &str) -> Resp {
    app.post(&format!("/v1/bargains/{b}/sessions"), json!({"member_id": m})).await
}

async fn help(app: &TestApp, s: &str, h: &str) -> Resp {
    app.post(&format!("/v1/bargain-sessions/{s}/helps"), json!({"helper_id": h})).await
}

async fn buy(app: &TestApp, s: &str, order: &str) -> Resp {
    app.post(&format!("/v1/bargain-sessions/{s}/purchase"), json!({"order_id": order})).await
}

async fn members(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(member(app, &format!("{prefix}{i}")).await);
    }
    out
}

async fn messages(app: &TestApp, kind: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT data FROM webhook_messages WHERE type = $1 ORDER BY created_at")
        .bind(kind)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn eight_helps_cut_whole_fen_to_exactly_the_floor_and_no_earlier() {
    let app = TestApp::spawn().await;
    let h = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/h", "event_types": ["bargain.completed", "bargain.purchased"]}),
        )
        .await;
    assert_eq!(h.status, StatusCode::CREATED);
    let b = bargain(&app, 8, json!({})).await;
    let owner = member(&app, "发起人").await;
    let s = start(&app, &b, &owner).await;
    assert_eq!(s.status, StatusCode::CREATED, "{:?}", s.body);
    assert_eq!((s.body["price"].clone(), s.body["helps"].clone()), (json!(9900), json!(0)));
    assert_eq!(s.body["expires_at"], json!(app.clock.now() + Duration::hours(24)));
    let id = s.id();
    let again = start(&app, &b, &owner).await;
    assert_eq!((again.status, again.id()), (StatusCode::OK, id.clone()), "one live session per member");

    let self_help = help(&app, &id, &owner).await;
    assert_eq!((self_help.status, self_help.code()), (StatusCode::CONFLICT, "self_help"));
    let early = buy(&app, &id, "early").await;
    assert_eq!(early.code(), "floor_not_reached");

    let helpers = members(&app, "h", 9).await;
    let mut price = 9900;
    for (i, hp) in helpers.iter().take(8).enumerate() {
        let r = help(&app, &id, hp).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let cut = r.body["cut"].as_i64().unwrap();
        assert!(cut >= 1, "{cut}");
        price -= cut;
        assert_eq!(r.body["price"], price);
        if i < 7 {
            assert!(price > 990, "the floor is reached only by the last help");
            assert_eq!(r.body["status"], "open");
        }
    }
    assert_eq!(price, 990, "exactly the floor after eight helps");
    let repeat = help(&app, &id, &helpers[0]).await;
    assert_eq!((repeat.status, repeat.code()), (StatusCode::CONFLICT, "already_helped"));
    assert!(repeat.body["error"]["cut"].as_i64().unwrap() >= 1);
    let ninth = help(&app, &id, &helpers[8]).await;
    assert_eq!(ninth.code(), "session_complete");
    let s = app.get(&format!("/v1/bargain-sessions/{id}")).await.body;
    assert_eq!((s["status"].clone(), s["help_list"].as_array().unwrap().len()), (json!("completed"), 8));
    let sum: i64 = s["help_list"].as_array().unwrap().iter().map(|h| h["cut"].as_i64().unwrap()).sum();
    assert_eq!(sum, 9900 - 990);
    assert_eq!(messages(&app, "bargain.completed").await.len(), 1);

    // Buy at the floor; the same order again answers the same, another is refused.
    let bought = buy(&app, &id, "o-1").await;
    assert_eq!(bought.status, StatusCode::OK, "{:?}", bought.body);
    assert_eq!((bought.body["status"].clone(), bought.body["price"].clone()), (json!("purchased"), json!(990)));
    assert_eq!(buy(&app, &id, "o-1").await.body, bought.body);
    assert_eq!(buy(&app, &id, "o-2").await.code(), "already_purchased");
    let sent = messages(&app, "bargain.purchased").await;
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0]["price"].clone(), sent[0]["order_id"].clone()), (json!(990), json!("o-1")));
    // Bought: a new session may start.
    assert_eq!(start(&app, &b, &owner).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn concurrent_helps_never_pass_helpers_needed_even_at_the_last_cut() {
    let app = TestApp::spawn().await;
    let b = bargain(&app, 5, json!({})).await;
    let owner = member(&app, "o").await;
    let id = start(&app, &b, &owner).await.id();
    let helpers = members(&app, "c", 24).await;
    // Four helps, then twenty at the last cut at once: one lands.
    for hp in &helpers[..4] {
        assert_eq!(help(&app, &id, hp).await.status, StatusCode::CREATED);
    }
    let answers = join_all(helpers[4..].iter().map(|hp| help(&app, &id, hp))).await;
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 1, "{:?}", answers.iter().map(|r| &r.body).collect::<Vec<_>>());
    assert_eq!(ok[0].body["price"], 990);
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.code(), "session_complete");
    }
    // A fresh session under 24 concurrent helps from the start: five land, on the floor.
    let owner2 = member(&app, "o2").await;
    let id2 = start(&app, &b, &owner2).await.id();
    let answers = join_all(helpers.iter().map(|hp| help(&app, &id2, hp))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 5);
    let s = app.get(&format!("/v1/bargain-sessions/{id2}")).await.body;
    assert_eq!((s["helps"].clone(), s["price"].clone()), (json!(5), json!(990)));
    let seqs: Vec<i64> = s["help_list"].as_array().unwrap().iter().map(|h| h["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    // Concurrent starts by one member: one session.
    let owner3 = member(&app, "o3").await;
    let starts = join_all((0..8).map(|_| start(&app, &b, &owner3))).await;
    assert_eq!(starts.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    assert!(starts.iter().all(|r| r.id() == starts[0].id()));
}

#[tokio::test]
async fn any_price_purchases_end_bargaining_sessions_expire_and_refusals_name_their_reason() {
    let app = TestApp::spawn().await;
    let b = bargain(&app, 4, json!({"buy_at": "any_price", "time_limit_hours": 2})).await;
    let ms = members(&app, "a", 6).await;
    let id = start(&app, &ms[0], &ms[0]).await;
    assert_eq!(id.status, StatusCode::NOT_FOUND, "a member id is not a bargain");
    let id = start(&app, &b, &ms[0]).await.id();
    let cut = help(&app, &id, &ms[1]).await.body["cut"].as_i64().unwrap();
    let bought = buy(&app, &id, "mid").await;
    assert_eq!(bought.status, StatusCode::OK, "{:?}", bought.body);
    assert_eq!(bought.body["price"], 9900 - cut);
    assert_eq!(help(&app, &id, &ms[2]).await.code(), "session_closed");

    // Staff do not help; new-members-only bargains refuse old members.
    let staff = app.post("/v1/members", json!({"display_name": "群主", "is_staff": true})).await.id();
    let id = start(&app, &b, &ms[1]).await.id();
    assert_eq!(help(&app, &id, &staff).await.code(), "staff_or_bot");
    let b2 = bargain(&app, 2, json!({"helpers_new_members_only": true})).await;
    let old = app
        .post("/v1/members", json!({"display_name": "老客", "first_seen_at": app.clock.now() - Duration::days(40)}))
        .await
        .id();
    let s2 = start(&app, &b2, &old).await.id();
    assert_eq!(help(&app, &s2, &ms[3]).await.status, StatusCode::CREATED, "a new member helps");
    let r = help(&app, &s2, &old).await;
    assert_eq!(r.code(), "self_help");
    let s3 = start(&app, &b2, &ms[4]).await.id();
    assert_eq!(help(&app, &s3, &old).await.code(), "not_new");

    // Time runs out: open and completed-but-unbought sessions expire.
    app.clock.advance(Duration::hours(2));
    assert_eq!(help(&app, &id, &ms[5]).await.code(), "session_expired", "expired on the spot");
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let expired = app.get(&format!("/v1/bargains/{b}/sessions?status=expired")).await;
    assert_eq!(expired.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(buy(&app, &id, "late").await.code(), "session_expired");
    let purchased = app.get(&format!("/v1/bargains/{b}/sessions?status=purchased")).await;
    assert_eq!(purchased.body["items"].as_array().unwrap().len(), 1, "a purchase does not expire");

    // Bad input: 4xx, nothing stored.
    let before = app.count("bargains").await;
    let c = app.get(&format!("/v1/bargains/{b}")).await.body["campaign_id"].clone();
    for body in [
        json!({"campaign_id": c, "product_id": "p", "list_price": 100, "floor_price": 95, "helpers_needed": 8}),
        json!({"campaign_id": c, "product_id": "p", "list_price": 100, "floor_price": -1, "helpers_needed": 8}),
        json!({"campaign_id": c, "product_id": "p", "list_price": 100, "floor_price": 10, "helpers_needed": 0}),
        json!({"campaign_id": c, "product_id": "p", "list_price": 99.5, "floor_price": 10, "helpers_needed": 8}),
        json!({"campaign_id": c, "product_id": "p", "list_price": 100, "floor_price": 10, "helpers_needed": 8, "buy_at": "x"}),
    ] {
        let r = app.post("/v1/bargains", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    }
    assert_eq!(app.count("bargains").await, before);
    let r = app.post(&format!("/v1/bargain-sessions/{id}/helps"), json!({"helper_id": "nope"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.post(&format!("/v1/bargain-sessions/{id}/purchase"), json!({"order_id": ""})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn stats_count_sessions_helps_and_new_helpers_by_group_and_other_workspaces_see_nothing() {
    let app = TestApp::spawn().await;
    let b = bargain(&app, 2, json!({})).await;
    let grp =
        app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-100555", "name": "砍价群"})).await.id();
    let ms = members(&app, "s", 4).await;
    let s = app.post(&format!("/v1/bargains/{b}/sessions"), json!({"member_id": ms[0], "group_id": grp})).await;
    assert_eq!(s.body["group_id"], json!(grp));
    let s = s.id();
    let old = app
        .post("/v1/members", json!({"display_name": "老客", "first_seen_at": app.clock.now() - Duration::days(40)}))
        .await
        .id();
    help(&app, &s, &ms[1]).await;
    help(&app, &s, &old).await;
    assert_eq!(buy(&app, &s, "o").await.status, StatusCode::OK);
    let s2 = start(&app, &b, &ms[2]).await.id();
    help(&app, &s2, &ms[1]).await;
    let st = app.get(&format!("/v1/bargains/{b}/stats")).await;
    assert_eq!(st.status, StatusCode::OK, "{:?}", st.body);
    let t = &st.body["total"];
    assert_eq!(
        (t["started"].as_i64(), t["completed"].as_i64(), t["purchased"].as_i64(), t["open"].as_i64()),
        (Some(2), Some(1), Some(1), Some(1))
    );
    assert_eq!((t["helps"].as_i64(), t["new_member_helps"].as_i64()), (Some(3), Some(2)));
    assert_eq!(st.body["new_helpers"], 1, "one new member helped twice");
    assert_eq!(t["gmv"], 990);
    let csv = app.get_text(&format!("/v1/bargains/{b}/stats?format=csv")).await;
    assert!(csv.contains(&format!("{grp},1,0,1,1,0,2,1,990")), "{csv}");

    let other = app.other_workspace("rival").await;
    for path in [format!("/v1/bargains/{b}"), format!("/v1/bargain-sessions/{s}"), format!("/v1/bargains/{b}/stats")] {
        assert_eq!(app.send(reqwest::Method::GET, &path, Some(&other), None).await.status, StatusCode::NOT_FOUND);
    }
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/bargain-sessions/{s2}/helps"),
            Some(&other),
            Some(json!({"helper_id": ms[3]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(help(&app, &missing, &ms[3]).await.status, StatusCode::NOT_FOUND, "no such session");
    assert_eq!(buy(&app, &missing, "o-x").await.status, StatusCode::NOT_FOUND);
    let l = app.send(reqwest::Method::GET, "/v1/bargain-sessions", Some(&other), None).await;
    assert_eq!(l.body["items"], json!([]));
}
