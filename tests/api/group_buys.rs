//! Group-buys: a team never overfills under concurrent joins, a member and
//! an order hold one place, full and closed teams name the order to
//! refund, expiry fails a team once across instances with every order in
//! one webhook, quick join, limits, stats and tenancy.

use chrono::Duration;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;

use crate::checkin::member;
use crate::helpers::{Resp, TestApp};

/// A running group_buy campaign and its group-buy with `extra` settings.
pub(crate) async fn group_buy(app: &TestApp, team_size: i64, extra: Value) -> String {
    let c = app
        .post(
            "/v1/campaigns",
            json!({"name": "3人拼团", "scene": "fission", "kind": "group_buy",
                   "starts_at": app.clock.now() - Duration::hours(1)}),
        )
        .await
        .id();
    let s = app.post(&format!("/v1/campaigns/{c}/status"), json!({"status": "running"})).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let mut body = json!({"campaign_id": c, "product_id": "sku-3", "name": "有机米 5kg",
        "list_price": 19900, "group_price": 12900, "team_size": team_size, "time_limit_hours": 24});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/group-buys", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn hook(app: &TestApp) {
    let h = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/h", "event_types": ["group_buy.succeeded", "group_buy.failed"]}),
        )
        .await;
    assert_eq!(h.status, StatusCode::CREATED, "{:?}", h.body);
}

async fn open(app: &TestApp, g: &str, m: &str, order: &str) -> Resp {
    app.post(&format!("/v1/group-buys/{g}/teams"), json!({"member_id": m, "order_id": order})).await
}

async fn join(app: &TestApp, t: &str, m: &str, order: impl AsRef<str>) -> Resp {
    app.post(&format!("/v1/group-buy-teams/{t}/members"), json!({"member_id": m, "order_id": order.as_ref()})).await
}

async fn messages(app: &TestApp, kind: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT data FROM webhook_messages WHERE type = $1 ORDER BY created_at")
        .bind(kind)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn members(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(member(app, &format!("{prefix}{i}")).await);
    }
    out
}

#[tokio::test]
async fn a_team_of_three_under_ten_concurrent_joins_takes_exactly_two_and_refunds_the_rest() {
    let app = TestApp::spawn().await;
    hook(&app).await;
    let g = group_buy(&app, 3, json!({})).await;
    let leader = member(&app, "团长").await;
    let t = open(&app, &g, &leader, "o-leader").await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    assert_eq!((t.body["needed"].clone(), t.body["status"].clone()), (json!(2), json!("open")));
    assert_eq!(t.body["expires_at"], json!(app.clock.now() + Duration::hours(24)));
    let team = t.id();

    let friends = members(&app, "friend", 10).await;
    let answers = join_all(friends.iter().enumerate().map(|(i, f)| join(&app, &team, f, format!("o-{i}")))).await;
    let ok = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(ok, 2, "{:?}", answers.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for (i, r) in answers.iter().enumerate().filter(|(_, r)| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "team_full"), "{:?}", r.body);
        assert_eq!(r.body["error"]["refund_order_id"], json!(format!("o-{i}")), "the shop refunds this order");
    }
    let t = app.get(&format!("/v1/group-buy-teams/{team}")).await.body;
    assert_eq!((t["status"].clone(), t["needed"].clone()), (json!("succeeded"), json!(0)));
    let positions: Vec<i64> =
        t["members"].as_array().unwrap().iter().map(|m| m["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, vec![1, 2, 3]);
    assert_eq!(app.count("group_buy_members").await, 3, "a refused join leaves nothing behind");

    // One success message with every order, the leader's first.
    let sent = messages(&app, "group_buy.succeeded").await;
    assert_eq!(sent.len(), 1);
    let orders: Vec<String> =
        t["members"].as_array().unwrap().iter().map(|m| m["order_id"].as_str().unwrap().into()).collect();
    assert_eq!(sent[0]["order_ids"], json!(orders));
    assert_eq!(sent[0]["order_ids"][0], "o-leader");
    assert_eq!(sent[0]["group_price"], 12900);

    // A retried join with the same order answers the same, and changes nothing.
    let winner = t["members"][1].clone();
    let again = join(&app, &team, winner["member_id"].as_str().unwrap(), winner["order_id"].as_str().unwrap()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(again.body, t);
    assert_eq!(messages(&app, "group_buy.succeeded").await.len(), 1);
}

#[tokio::test]
async fn a_member_joins_a_team_once_never_their_own_and_an_order_holds_one_place() {
    let app = TestApp::spawn().await;
    let g = group_buy(&app, 4, json!({"per_member_limit": 2})).await;
    let [leader, a, b] = [member(&app, "l").await, member(&app, "a").await, member(&app, "b").await];
    let team = open(&app, &g, &leader, "o-l").await.id();
    // Opening again on the same order (a retry, several at once) answers the same team.
    let again = join_all((0..5).map(|_| open(&app, &g, &leader, "o-l"))).await;
    assert!(again.iter().all(|r| r.status == StatusCode::CREATED && r.id() == team), "{:?}", again[0].body);
    assert_eq!(app.count("group_buy_teams").await, 1);
    let own = join(&app, &team, &leader, "o-l2").await;
    assert_eq!((own.status, own.code()), (StatusCode::CONFLICT, "already_in_team"));
    // The same member, twenty concurrent joins with different orders: one place.
    let orders: Vec<String> = (0..20).map(|i| format!("o-a{i}")).collect();
    let answers = join_all(orders.iter().map(|o| join(&app, &team, &a, o))).await;
    assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.code(), "already_in_team", "{:?}", r.body);
    }
    // The same order for another member: refused.
    let used = answers.iter().find(|r| r.status == StatusCode::CREATED).unwrap().body["members"][1]["order_id"].clone();
    let r = join(&app, &team, &b, used.as_str().unwrap()).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "order_in_use"));
    // The same order retried concurrently: one place, the same answer.
    let answers = join_all((0..8).map(|_| join(&app, &team, &b, "o-b"))).await;
    assert!(
        answers.iter().all(|r| r.status == StatusCode::CREATED),
        "{:?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(app.get(&format!("/v1/group-buy-teams/{team}")).await.body["needed"], 1);

    // Bad input changes nothing.
    for body in
        [json!({"member_id": b}), json!({"member_id": b, "order_id": ""}), json!({"member_id": "x", "order_id": "o"})]
    {
        let r = app.post(&format!("/v1/group-buy-teams/{team}/members"), body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    }
    let unknown = join(&app, &team, &uuid::Uuid::now_v7().to_string(), "o-x").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for body in [
        json!({"campaign_id": uuid::Uuid::now_v7(), "product_id": "p", "list_price": 100, "group_price": 200, "team_size": 3}),
        json!({"campaign_id": uuid::Uuid::now_v7(), "product_id": "p", "list_price": 100, "group_price": 50, "team_size": 1}),
        json!({"campaign_id": uuid::Uuid::now_v7(), "product_id": "p", "list_price": 1.5, "group_price": 1, "team_size": 3}),
    ] {
        let r = app.post("/v1/group-buys", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    }
    assert_eq!(app.count("group_buy_members").await, 3);
}

#[tokio::test]
async fn an_expired_team_fails_once_across_instances_with_every_order_and_late_joins_are_refunded() {
    let app = TestApp::spawn().await;
    hook(&app).await;
    let g = group_buy(&app, 5, json!({"time_limit_hours": 2})).await;
    let ms = members(&app, "m", 4).await;
    let team = open(&app, &g, &ms[0], "o0").await.id();
    for (i, m) in ms.iter().enumerate().skip(1).take(2) {
        assert_eq!(join(&app, &team, m, &format!("o{i}")).await.status, StatusCode::CREATED);
    }
    let other = open(&app, &g, &ms[3], "o3").await.id();
    app.clock.advance(Duration::hours(2));
    // Two instances at once: each team fails once.
    let now = app.clock.now();
    let (a, b) = tokio::join!(
        shequn::group_buys::service::fail_due(&app.pool, now),
        shequn::group_buys::service::fail_due(&app.pool, now)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let failed = messages(&app, "group_buy.failed").await;
    assert_eq!(failed.len(), 2);
    let mine = failed.iter().find(|m| m["team_id"] == json!(team)).unwrap();
    assert_eq!(mine["order_ids"], json!(["o0", "o1", "o2"]), "every member's order, not only the leader's");
    assert_eq!(mine["reason"], "expired");
    let t = app.get(&format!("/v1/group-buy-teams/{team}")).await.body;
    assert_eq!((t["status"].clone(), t["reason"].clone()), (json!("failed"), json!("expired")));
    // Joining now: refused with the order to refund, nothing stored.
    let late = join(&app, &other, &ms[1], "late").await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "team_closed"));
    assert_eq!(late.body["error"]["refund_order_id"], "late");
    // The places came back: the leader may open again (limit 1).
    assert_eq!(open(&app, &g, &ms[0], "o0-again").await.status, StatusCode::CREATED);

    // A team past its time but not yet failed by the job fails on the join that finds it.
    let lagging = open(&app, &g, &ms[1], "o1-b").await.id();
    app.clock.advance(Duration::hours(3));
    let r = join(&app, &lagging, &ms[2], "o2-b").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "team_closed"));
    assert_eq!(messages(&app, "group_buy.failed").await.len(), 3);
    shequn::group_buys::service::fail_due(&app.pool, app.clock.now()).await.unwrap();
    assert_eq!(messages(&app, "group_buy.failed").await.len(), 4, "the leader's re-opened team, once");

    // A cancelled campaign's open teams take no one and fail with that reason.
    let g2 = group_buy(&app, 3, json!({})).await;
    let team = open(&app, &g2, &ms[3], "c0").await.id();
    let c = app.get(&format!("/v1/group-buys/{g2}")).await.body["campaign_id"].as_str().unwrap().to_owned();
    let r = app.post(&format!("/v1/campaigns/{c}/status"), json!({"status": "cancelled"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = join(&app, &team, &ms[0], "c1").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "team_closed"));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let failed = messages(&app, "group_buy.failed").await;
    let last = failed.last().unwrap();
    assert_eq!((last["team_id"].clone(), last["reason"].clone()), (json!(team), json!("campaign_cancelled")));
    assert_eq!(last["order_ids"], json!(["c0"]));
}

#[tokio::test]
async fn quick_join_fills_the_closest_team_limits_caps_and_rules_hold() {
    let app = TestApp::spawn().await;
    let g = group_buy(&app, 3, json!({"max_teams": 2})).await;
    let ms = members(&app, "q", 7).await;
    let quick = |m: &str, o: &str| {
        let path = format!("/v1/group-buys/{g}/join");
        let body = json!({"member_id": m, "order_id": o});
        let app = &app;
        async move { app.post(&path, body).await }
    };
    let first = quick(&ms[0], "q0").await;
    assert_eq!((first.status, first.body["members"].as_array().unwrap().len()), (StatusCode::CREATED, 1), "opens one");
    assert_eq!(open(&app, &g, &ms[1], "q1").await.status, StatusCode::CREATED);
    let r = quick(&ms[2], "q2").await;
    assert_eq!(r.body["needed"], 1);
    let closest = r.id();
    let r = quick(&ms[3], "q3").await;
    assert_eq!(
        (r.id(), r.body["status"].clone()),
        (closest.clone(), json!("succeeded")),
        "the closest team fills first"
    );
    let r = quick(&ms[4], "q4").await;
    assert_eq!(r.body["needed"], 1);
    let r = quick(&ms[5], "q5").await;
    assert_eq!(r.body["status"], "succeeded");
    let capped = quick(&ms[6], "q6").await;
    assert_eq!((capped.status, capped.code()), (StatusCode::CONFLICT, "max_teams_reached"));
    assert_eq!(app.get(&format!("/v1/group-buys/{g}")).await.body["teams_opened"], 2);

    // per_member_limit 1: a second team for the same member is refused.
    let g2 = group_buy(&app, 3, json!({})).await;
    assert_eq!(open(&app, &g2, &ms[0], "x0").await.status, StatusCode::CREATED);
    let r = open(&app, &g2, &ms[0], "x1").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "limit_reached"));
    // Joining another team at the limit: refused, and the team keeps its place free.
    let other = open(&app, &g2, &ms[1], "x2").await.id();
    let r = join(&app, &other, &ms[0], "x3").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "limit_reached"));
    let t = app.get(&format!("/v1/group-buy-teams/{other}")).await.body;
    assert_eq!((t["needed"].clone(), t["members"].as_array().unwrap().len()), (json!(2), 1));

    // New members only: an old member is refused, a new one joins.
    let g3 = group_buy(&app, 2, json!({"new_members_only_joiners": true})).await;
    let old = app
        .post("/v1/members", json!({"display_name": "老客", "first_seen_at": app.clock.now() - Duration::days(30)}))
        .await
        .id();
    let t = open(&app, &g3, &old, "n0").await;
    assert_eq!(t.status, StatusCode::CREATED, "a leader need not be new");
    let r = join(&app, &t.id(), &member(&app, "老客2").await, "n1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["members"][1]["new_member"], true);
    let t2 = open(&app, &g3, &ms[1], "n2").await.id();
    let r = join(&app, &t2, &old, "n3").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "not_new"));

    // Staff do not buy in teams; a paused group-buy opens no team.
    let staff = app.post("/v1/members", json!({"display_name": "运营", "is_staff": true})).await.id();
    assert_eq!(open(&app, &g2, &staff, "s0").await.code(), "staff_or_bot");
    let p = app.patch(&format!("/v1/group-buys/{g2}"), json!({"status": "paused"})).await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(open(&app, &g2, &ms[2], "p0").await.code(), "not_active");
}

#[tokio::test]
async fn stats_count_teams_fill_time_new_joiners_and_gmv_and_other_workspaces_see_nothing() {
    let app = TestApp::spawn().await;
    let g = group_buy(&app, 2, json!({})).await;
    let grp =
        app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-100123", "name": "宝妈群"})).await.id();
    let ms = members(&app, "s", 4).await;
    let t = app
        .post(&format!("/v1/group-buys/{g}/teams"), json!({"member_id": ms[0], "order_id": "a", "group_id": grp}))
        .await;
    assert_eq!(t.body["group_id"], json!(grp));
    app.clock.advance(Duration::minutes(30));
    assert_eq!(join(&app, &t.id(), &ms[1], "b").await.status, StatusCode::CREATED);
    open(&app, &g, &ms[2], "c").await;
    app.clock.advance(Duration::hours(25));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let s = app.get(&format!("/v1/group-buys/{g}/stats")).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let total = &s.body["total"];
    assert_eq!(
        (total["teams_opened"].as_i64(), total["succeeded"].as_i64(), total["failed"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(total["success_rate"], 0.5);
    assert_eq!(total["mean_seconds_to_fill"], 1800.0);
    assert_eq!((total["joiners"].as_i64(), total["new_member_joiners"].as_i64()), (Some(1), Some(1)));
    assert_eq!(total["gmv"], 2 * 12900);
    assert_eq!(s.body["groups"].as_array().unwrap().len(), 2);
    let csv = app.get_text(&format!("/v1/group-buys/{g}/stats?format=csv")).await;
    assert!(csv.starts_with("group_id,teams_opened,succeeded,failed"), "{csv}");
    assert!(csv.contains(&format!("{grp},1,1,0,0,1,1800,1,1,25800")), "{csv}");
    let list = app.get(&format!("/v1/group-buys/{g}/teams?status=failed")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let mine = app.get(&format!("/v1/group-buy-teams?member_id={}", ms[1])).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);

    let other = app.other_workspace("rival").await;
    for path in
        [format!("/v1/group-buys/{g}"), format!("/v1/group-buy-teams/{}", t.id()), format!("/v1/group-buys/{g}/stats")]
    {
        assert_eq!(app.send(reqwest::Method::GET, &path, Some(&other), None).await.status, StatusCode::NOT_FOUND);
    }
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/group-buy-teams/{}/members", t.id()),
            Some(&other),
            Some(json!({"member_id": ms[3], "order_id": "z"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let l = app.send(reqwest::Method::GET, "/v1/group-buy-teams", Some(&other), None).await;
    assert_eq!(l.body["items"], json!([]));
}
