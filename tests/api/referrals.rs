//! Invite campaigns: invite codes, referrals opened by real joins, the hold
//! driven by the clock, rewards once under redelivery and two job passes at
//! once, every anti-fraud reason from a real history, the daily cap with an
//! operator's decision, leaderboard, tree and tenancy.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shequn::clock::Clock;

use crate::checkin::{balance, member};
use crate::helpers::TestApp;

async fn group(app: &TestApp, ext: &str) -> String {
    let r = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": ext, "name": ext,
                                   "invite_url": format!("https://t.me/+{ext}")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

/// A running referral campaign over `groups`.
async fn campaign(app: &TestApp, groups: &[&str], settings: Value) -> String {
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "邀请有礼", "scene": "fission", "kind": "referral", "settings": settings,
                   "target": {"group_ids": groups}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.id();
    let s = app.post(&format!("/v1/campaigns/{id}/status"), json!({"status": "running"})).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    id
}

async fn code(app: &TestApp, campaign: &str, m: &str) -> String {
    let r = app.post(&format!("/v1/campaigns/{campaign}/invite-codes"), json!({"member_id": m})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    r.body["code"].as_str().unwrap().to_owned()
}

/// `m` joins `group` now, through `code` when given.
async fn join(app: &TestApp, id: &str, m: &str, group: &str, code: Option<&str>) {
    let mut e = json!({"id": id, "type": "member_joined", "occurred_at": app.clock.now(), "member_id": m,
                       "group_id": group});
    if let Some(c) = code {
        e["channel"] = json!(c);
    }
    let r = app.post("/v1/events", json!([e])).await;
    assert_eq!(r.body["accepted"], 1, "{:?}", r.body);
}

async fn leave(app: &TestApp, id: &str, m: &str, group: &str) {
    let e =
        json!([{"id": id, "type": "member_left", "occurred_at": app.clock.now(), "member_id": m, "group_id": group}]);
    assert_eq!(app.post("/v1/events", e).await.body["accepted"], 1);
}

/// The referral of `invitee` in `campaign`: (status, reason).
async fn referral(app: &TestApp, campaign: &str, invitee: &str) -> (String, Value) {
    let r = app.get(&format!("/v1/campaigns/{campaign}/referrals?invitee_id={invitee}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    (items[0]["status"].as_str().unwrap().to_owned(), items[0]["reason"].clone())
}

async fn jobs(app: &TestApp) {
    shequn::jobs::run_campaign_jobs_once(&app.state).await.expect("campaign jobs");
}

async fn webhooks(app: &TestApp, kind: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT data FROM webhook_messages WHERE type = $1 ORDER BY created_at")
        .bind(kind)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn invites_qualify_after_the_hold_and_rewards_are_granted_once_per_threshold() {
    let app = TestApp::spawn().await;
    let hook = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/h",
              "event_types": ["referral.qualified", "referral.revoked", "referral.flagged"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let g = group(&app, "-300").await;
    let t = app
        .post(
            "/v1/coupon-templates",
            json!({"name": "邀请券", "discount": {"kind": "amount_off", "amount": 500},
              "validity": {"kind": "after_claim", "days": 7}, "total": 100, "per_member_limit": 5}),
        )
        .await
        .id();
    let c = campaign(
        &app,
        &[&g],
        json!({"hold_hours": 24, "rewards": [{"at": 1, "points": 20},
        {"at": 2, "coupon_template_id": t}, {"at": 3, "points": 100}]}),
    )
    .await;
    let a = member(&app, "Alice").await;
    join(&app, "a-in", &a, &g, None).await;

    let first = app.post(&format!("/v1/campaigns/{c}/invite-codes"), json!({"member_id": a})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = app.post(&format!("/v1/campaigns/{c}/invite-codes"), json!({"member_id": a})).await;
    assert_eq!(
        (again.status, &again.body["code"], &again.body["link"]),
        (StatusCode::OK, &first.body["code"], &first.body["link"])
    );
    let code = first.body["code"].as_str().unwrap().to_owned();
    assert!(first.body["link"].as_str().unwrap().ends_with(&format!("/c/{code}")));
    // The link is a channel-style entry link to the campaign's group, not an operator channel.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let v = client.get(format!("{}/c/{code}", app.base)).send().await.unwrap();
    assert_eq!((v.status(), v.headers()["location"].to_str().unwrap()), (StatusCode::FOUND, "https://t.me/+-300"));
    assert_eq!(app.get("/v1/channels").await.body["items"], json!([]));

    let (b, x, d) = (member(&app, "Bob").await, member(&app, "Xia").await, member(&app, "Dan").await);
    join(&app, "b-in", &b, &g, Some(&code)).await;
    join(&app, "x-in", &x, &g, Some(&code)).await;
    assert_eq!(referral(&app, &c, &b).await, ("pending".into(), Value::Null));
    app.clock.advance(Duration::hours(2));
    leave(&app, "x-out", &x, &g).await;
    app.clock.advance(Duration::minutes(1));
    join(&app, "x-back", &x, &g, Some(&code)).await;
    app.clock.advance(Duration::hours(20));
    jobs(&app).await;
    assert_eq!(referral(&app, &c, &b).await.0, "pending", "the hold is not over");

    app.clock.advance(Duration::hours(3));
    // Two instances' job passes at once decide each referral once.
    let (r1, r2) = tokio::join!(
        shequn::referrals::service::run_due(&app.pool, app.clock.now(), &app.state.ingestion.reactions),
        shequn::referrals::service::run_due(&app.pool, app.clock.now(), &app.state.ingestion.reactions)
    );
    assert_eq!(r1.unwrap() + r2.unwrap(), 2);
    assert_eq!(referral(&app, &c, &b).await.0, "qualified");
    assert_eq!(
        referral(&app, &c, &x).await,
        ("revoked".into(), json!("left_within_hold")),
        "left and rejoined within the hold"
    );
    assert_eq!(balance(&app, &a).await, 20);
    jobs(&app).await;
    // A redelivered join changes nothing.
    join(&app, "b-in", &b, &g, Some(&code)).await;
    assert_eq!(balance(&app, &a).await, 20);
    let q = webhooks(&app, "referral.qualified").await;
    assert_eq!((q.len(), &q[0]["inviter_member_id"], &q[0]["qualified_invites"]), (1, &json!(a), &json!(1)));
    assert_eq!(webhooks(&app, "referral.revoked").await[0]["reason"], "left_within_hold");

    join(&app, "d-in", &d, &g, Some(&code)).await;
    app.clock.advance(Duration::hours(25));
    jobs(&app).await;
    let coupons = app.get(&format!("/v1/coupons?member_id={a}")).await;
    assert_eq!(coupons.body["items"].as_array().unwrap().len(), 1, "the second invite's coupon");
    assert_eq!(balance(&app, &a).await, 20, "the third threshold is not reached");

    let board = app.get(&format!("/v1/campaigns/{c}/leaderboard")).await;
    assert_eq!(board.status, StatusCode::OK, "{:?}", board.body);
    assert_eq!((&board.body["items"][0]["member_id"], &board.body["items"][0]["qualified"]), (&json!(a), &json!(2)));
    let tree = app.get(&format!("/v1/members/{a}/referral-tree?depth=2")).await;
    assert_eq!(tree.status, StatusCode::OK, "{:?}", tree.body);
    let kids: Vec<&Value> = tree.body["root"]["children"].as_array().unwrap().iter().map(|k| &k["member_id"]).collect();
    assert_eq!(kids, [&json!(b), &json!(d)], "the revoked invite is not in the tree");
    assert_eq!(tree.body["members"], 2);

    // The growth metrics: 3 invites (the rejoin added none), 2 qualified, 1
    // revoked; one inviter among the 4 members: K = 2/1 × 1/4.
    let g = app.get("/v1/metrics/growth?from=2026-11-19&to=2026-11-23").await;
    assert_eq!(g.status, StatusCode::OK, "{:?}", g.body);
    let inv = &g.body["invite_campaigns"];
    assert_eq!(
        [
            &inv["members"],
            &inv["total"]["invites"],
            &inv["total"]["qualified"],
            &inv["total"]["revoked"],
            &inv["total"]["inviting_members"],
            &inv["total"]["reasons"]["left_within_hold"]
        ],
        [&json!(4), &json!(3), &json!(2), &json!(1), &json!(1), &json!(1)],
        "{inv}"
    );
    assert_eq!((&inv["total"]["k_factor"], &inv["campaigns"][0]["campaign_id"]), (&json!(0.5), &json!(c)));

    // Tenancy.
    let other = app.other_workspace("other").await;
    for path in [
        format!("/v1/campaigns/{c}/referrals"),
        format!("/v1/campaigns/{c}/leaderboard"),
        format!("/v1/members/{a}/referral-tree"),
    ] {
        assert_eq!(app.send(Method::GET, &path, Some(&other), None).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app
        .send(Method::POST, &format!("/v1/campaigns/{c}/invite-codes"), Some(&other), Some(json!({"member_id": a})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.send(Method::GET, "/v1/referrals", Some(&other), None).await.body["items"], json!([]));
}

#[tokio::test]
async fn every_anti_fraud_reason_is_kept_with_a_real_history() {
    let app = TestApp::spawn().await;
    let (g, g2) = (group(&app, "-400").await, group(&app, "-401").await);
    let c = campaign(&app, &[&g, &g2], json!({"hold_hours": 1})).await;
    let a = app.post("/v1/members", json!({"display_name": "Amy", "phone": "+86 138 0000 1111"})).await.id();
    join(&app, "a-in", &a, &g, None).await;
    let code_a = code(&app, &c, &a).await;

    // The inviter joining another group through their own link.
    join(&app, "a-self", &a, &g2, Some(&code_a)).await;
    // A second identity of the inviter: another member with the same phone.
    let twin = app.post("/v1/members", json!({"display_name": "Amy2", "phone": "+8613800001111"})).await.id();
    join(&app, "twin", &twin, &g, Some(&code_a)).await;
    // A staff member.
    let staff = app.post("/v1/members", json!({"display_name": "店员", "is_staff": true})).await.id();
    join(&app, "staff", &staff, &g, Some(&code_a)).await;
    // A member who left and rejoins.
    let old = member(&app, "Old").await;
    join(&app, "old-in", &old, &g2, None).await;
    app.clock.advance(Duration::minutes(5));
    leave(&app, "old-out", &old, &g2).await;
    app.clock.advance(Duration::minutes(5));
    join(&app, "old-back", &old, &g, Some(&code_a)).await;
    // A cycle: B, invited by A, invites A (into a group A is not in).
    let b = member(&app, "Bo").await;
    join(&app, "b-in", &b, &g, Some(&code_a)).await;
    let code_b = code(&app, &c, &b).await;
    leave(&app, "a-out2", &a, &g2).await;
    join(&app, "a-cycle", &a, &g2, Some(&code_b)).await;
    // Another workspace's code.
    let other_key = app.other_workspace("other").await;
    let oc = app
        .send(
            Method::POST,
            "/v1/campaigns",
            Some(&other_key),
            Some(json!({"name": "x", "scene": "fission", "kind": "referral"})),
        )
        .await
        .id();
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/v1/campaigns/{oc}/status"),
            Some(&other_key),
            Some(json!({"status": "running"}))
        )
        .await
        .status,
        StatusCode::OK
    );
    let om = app.send(Method::POST, "/v1/members", Some(&other_key), Some(json!({"display_name": "o"}))).await.id();
    let foreign = app
        .send(
            Method::POST,
            &format!("/v1/campaigns/{oc}/invite-codes"),
            Some(&other_key),
            Some(json!({"member_id": om})),
        )
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = member(&app, "Stranger").await;
    join(&app, "cross", &stranger, &g, Some(&foreign)).await;

    assert_eq!(referral(&app, &c, &a).await, ("rejected".into(), json!("self_invite")));
    assert_eq!(referral(&app, &c, &twin).await, ("rejected".into(), json!("self_invite")));
    assert_eq!(referral(&app, &c, &staff).await, ("rejected".into(), json!("staff_or_bot")));
    assert_eq!(referral(&app, &c, &old).await, ("rejected".into(), json!("not_new")));
    assert_eq!(referral(&app, &c, &b).await.0, "pending");
    let mine = app.get(&format!("/v1/referrals?invitee_id={stranger}")).await.body["items"][0].clone();
    assert_eq!(
        (&mine["status"], &mine["reason"], &mine["campaign_id"]),
        (&json!("rejected"), &json!("cross_workspace"), &Value::Null)
    );
    assert_eq!(
        app.send(Method::GET, &format!("/v1/campaigns/{oc}/referrals"), Some(&other_key), None).await.body["items"],
        json!([]),
        "the other workspace sees nothing of this one"
    );
    // A invited by B: the cycle (A's referral in this campaign is the self-invite, so look it up by inviter).
    let by_b = app.get(&format!("/v1/referrals?inviter_id={b}")).await.body["items"].clone();
    assert_eq!(by_b, json!([]), "A already has a referral in this campaign: nothing new");

    // In a second campaign the cycle shows.
    let c2 = campaign(&app, &[&g, &g2], json!({"new_members_only": false})).await;
    let code_b2 = code(&app, &c2, &b).await;
    leave(&app, "a-out3", &a, &g2).await;
    join(&app, "a-cycle2", &a, &g2, Some(&code_b2)).await;
    assert_eq!(referral(&app, &c2, &a).await, ("rejected".into(), json!("cycle")));

    // Not a referral or lottery campaign; bad bodies.
    let plain = app.post("/v1/campaigns", json!({"name": "p", "scene": "activity", "kind": "content"})).await.id();
    let r = app.post(&format!("/v1/campaigns/{plain}/invite-codes"), json!({"member_id": a})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("no_invites")));
    let r = app.post(&format!("/v1/campaigns/{c}/invite-codes"), json!({"member_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"hold_hours": 721}),
        json!({"rewards": [{"at": 1}]}),
        json!({"rewards": [{"at": 1, "points": 5, "coupon_template_id": uuid::Uuid::now_v7()}]}),
        json!({"max_qualified_per_day": 0}),
        json!({"bogus": 1}),
    ] {
        let r = app
            .post("/v1/campaigns", json!({"name": "bad", "scene": "fission", "kind": "referral", "settings": bad}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", r.body);
    }
}

#[tokio::test]
async fn over_the_daily_cap_an_invite_waits_for_an_operator() {
    let app = TestApp::spawn().await;
    let hook = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/h", "event_types": ["referral.flagged"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED);
    let g = group(&app, "-500").await;
    let c = campaign(
        &app,
        &[&g],
        json!({"hold_hours": 0, "max_qualified_per_day": 1,
        "rewards": [{"at": 1, "points": 10}, {"at": 2, "points": 30}]}),
    )
    .await;
    let a = member(&app, "A").await;
    let code = code(&app, &c, &a).await;
    let (x, y, z) = (member(&app, "X").await, member(&app, "Y").await, member(&app, "Z").await);
    for (id, m) in [("x", &x), ("y", &y), ("z", &z)] {
        join(&app, id, m, &g, Some(&code)).await;
    }
    jobs(&app).await;
    let statuses: Vec<String> = [&x, &y, &z].iter().map(|m| m.to_string()).collect();
    let mut got = Vec::new();
    for m in &statuses {
        got.push(referral(&app, &c, m).await);
    }
    assert_eq!(got.iter().filter(|s| s.0 == "qualified").count(), 1, "{got:?}");
    assert_eq!(got.iter().filter(|s| s.0 == "flagged" && s.1 == json!("over_daily_cap")).count(), 2, "{got:?}");
    assert_eq!(webhooks(&app, "referral.flagged").await.len(), 2);
    assert_eq!(balance(&app, &a).await, 10);

    let flagged = app.get(&format!("/v1/campaigns/{c}/referrals?status=flagged")).await.body["items"].clone();
    let (f1, f2) = (flagged[0]["id"].as_str().unwrap(), flagged[1]["id"].as_str().unwrap());
    let ok = app.post(&format!("/v1/referrals/{f1}/approve"), json!({})).await;
    assert_eq!((ok.status, ok.body["status"].as_str()), (StatusCode::OK, Some("qualified")), "{:?}", ok.body);
    assert_eq!(balance(&app, &a).await, 40, "the second threshold");
    let again = app.post(&format!("/v1/referrals/{f1}/approve"), json!({})).await;
    assert_eq!((again.status, balance(&app, &a).await), (StatusCode::OK, 40));
    let no = app.post(&format!("/v1/referrals/{f2}/reject"), json!({})).await;
    assert_eq!(
        (no.body["status"].as_str(), no.body["reason"].as_str()),
        (Some("rejected"), Some("rejected_by_operator"))
    );
    let r = app.post(&format!("/v1/referrals/{f2}/approve"), json!({})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("not_flagged")));
    let viewer = app.key_with_role("viewer").await;
    let r = app.send(Method::POST, &format!("/v1/referrals/{f2}/reject"), Some(&viewer), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&format!("/v1/referrals/{}/approve", uuid::Uuid::now_v7()), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
