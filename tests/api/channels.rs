//! Channel entry links: routing by capacity and strategy, skipping closed
//! groups and groups without an invite link, the "full" page and its
//! webhook once per spell, validation, tenancy and the per-address limit.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn group(app: &TestApp, ext: &str, invite: Option<&str>) -> String {
    let r = app
        .post("/v1/groups", json!({"platform": "telegram", "external_id": ext, "name": ext, "invite_url": invite}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["invite_url"], json!(invite));
    r.id()
}

async fn join(app: &TestApp, ext: &str, who: &str, kind: &str) {
    let e = json!([{"id": format!("{kind}-{ext}-{who}"), "type": kind, "occurred_at": "2026-11-20T01:00:00Z",
        "member": {"platform": "telegram", "external_id": who}, "group": {"platform": "telegram", "external_id": ext}}]);
    let r = app.post("/v1/events", e).await;
    assert_eq!(r.body["accepted"], 1, "{:?}", r.body);
}

/// Visits a link without following it: (status, Location or body).
async fn visit(app: &TestApp, link: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let path = link.split_once("/c/").map(|(_, c)| format!("/c/{c}")).unwrap();
    let r = client.get(format!("{}{path}", app.base)).send().await.unwrap();
    let status = r.status();
    let to = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, to.unwrap_or(r.text().await.unwrap()))
}

#[tokio::test]
async fn a_link_fills_groups_in_order_skips_closed_ones_and_says_when_all_are_full() {
    let app = TestApp::spawn().await;
    let hook = app
        .post("/v1/webhook-endpoints", json!({"url": "https://shop.example.com/h", "event_types": ["channel.full"]}))
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:?}", hook.body);
    let a = group(&app, "-a", Some("https://t.me/+aaa")).await;
    let b = group(&app, "-b", Some("https://t.me/+bbb")).await;
    let no_link = group(&app, "-n", None).await;
    let c = group(&app, "-c", Some("https://t.me/+ccc")).await;
    let r = app
        .post(
            "/v1/channels",
            json!({"name": "门店海报", "source": "offline", "target": {"group_ids": [a, b, no_link, c]},
                   "capacity_per_group": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let link = r.body["link"].as_str().unwrap().to_owned();
    let id = r.id();
    assert_eq!((r.body["strategy"].clone(), r.body["code"].as_str().unwrap().len()), (json!("fill_in_order"), 10));
    assert_eq!(visit(&app, &link).await, (StatusCode::FOUND, "https://t.me/+aaa".into()));
    join(&app, "-a", "u1", "member_joined").await;
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+aaa", "one place left");
    join(&app, "-a", "u2", "member_joined").await;
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+bbb", "a is at capacity");
    // b archived: skipped; the group without an invite link too.
    let r = app.patch(&format!("/v1/groups/{b}"), json!({"status": "archived"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+ccc");
    join(&app, "-c", "u3", "member_joined").await;
    join(&app, "-c", "u4", "member_joined").await;
    // Every group full: the page, and one channel.full however many visit.
    for _ in 0..3 {
        let (status, page) = visit(&app, &link).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("群已满") && page.contains("The groups are full"), "{page}");
    }
    let full: Vec<Value> = sqlx::query_scalar("SELECT data FROM webhook_messages WHERE type = 'channel.full'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(full.len(), 1, "{full:?}");
    assert_eq!((full[0]["channel_id"].clone(), full[0]["capacity_per_group"].clone()), (json!(id), json!(2)));
    assert!(app.get(&format!("/v1/channels/{id}")).await.body["full_since"].is_string());
    // A member leaves a: the link routes again, and a next spell announces again.
    join(&app, "-a", "u1", "member_left").await;
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+aaa");
    assert!(app.get(&format!("/v1/channels/{id}")).await.body["full_since"].is_null());
    join(&app, "-a", "u5", "member_joined").await;
    assert_eq!(visit(&app, &link).await.0, StatusCode::OK);
    assert_eq!(app.count("webhook_messages").await, 2);
    // Paused: the page, no announcement; archived or deleted: 404.
    app.patch(&format!("/v1/channels/{id}"), json!({"status": "paused", "capacity_per_group": 100})).await;
    assert_eq!(visit(&app, &link).await.0, StatusCode::OK);
    app.patch(&format!("/v1/channels/{id}"), json!({"status": "active"})).await;
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+aaa", "capacity raised");
    // a dismissed on the platform: skipped.
    let r = app.patch(&format!("/v1/groups/{a}"), json!({"status": "dismissed"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(visit(&app, &link).await.1, "https://t.me/+ccc");
    assert_eq!(app.delete(&format!("/v1/channels/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(visit(&app, &link).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn round_robin_takes_the_groups_with_room_in_turn_and_a_layer_resolves_live() {
    let app = TestApp::spawn().await;
    let ids = [
        group(&app, "-1", Some("https://g/1")).await,
        group(&app, "-2", Some("https://g/2")).await,
        group(&app, "-3", Some("https://g/3")).await,
    ];
    let r = app
        .post(
            "/v1/channels",
            json!({"name": "公众号", "source": "qr_code", "strategy": "round_robin", "target": {"group_ids": ids}}),
        )
        .await;
    let link = r.body["link"].as_str().unwrap().to_owned();
    let mut seen = vec![];
    for _ in 0..6 {
        seen.push(visit(&app, &link).await.1);
    }
    assert_eq!(seen, ["https://g/1", "https://g/2", "https://g/3", "https://g/1", "https://g/2", "https://g/3"]);
    // A layer: its groups as it resolves at the visit.
    let layer = app.post("/v1/layers", json!({"name": "VIP", "selector": {"tiers": ["vip"]}})).await;
    assert_eq!(layer.status, StatusCode::CREATED, "{:?}", layer.body);
    let r = app
        .post("/v1/channels", json!({"name": "VIP 海报", "source": "offline", "target": {"layer_id": layer.id()}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let vip = r.body["link"].as_str().unwrap().to_owned();
    assert_eq!(visit(&app, &vip).await.0, StatusCode::OK, "no VIP group yet");
    app.patch(&format!("/v1/groups/{}", ids[1]), json!({"tier": "vip"})).await;
    assert_eq!(visit(&app, &vip).await.1, "https://g/2");
}

#[tokio::test]
async fn bad_channels_are_refused_other_workspaces_see_nothing_and_visits_are_limited() {
    let mut settings = crate::helpers::test_settings();
    settings.auth.channel_visits_per_minute = 20;
    let app = TestApp::spawn_with(settings).await;
    let g = group(&app, "-x", Some("https://g/x")).await;
    for (body, field) in [
        (json!({"name": "a", "source": "offline", "target": {}}), "target"),
        (json!({"name": "a", "source": "offline", "target": {"group_ids": [g], "layer_id": g}}), "target"),
        (json!({"name": "a", "source": "offline", "target": {"group_ids": [g, g]}}), "target.group_ids"),
        (json!({"name": "a", "source": "poster", "target": {"group_ids": [g]}}), "source"),
        (
            json!({"name": "a", "source": "offline", "target": {"group_ids": [g]}, "capacity_per_group": 0}),
            "capacity_per_group",
        ),
        (json!({"name": " ", "source": "offline", "target": {"group_ids": [g]}}), "name"),
    ] {
        let r = app.post("/v1/channels", body.clone()).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {:?}", r.body);
    }
    let bad_url = app.patch(&format!("/v1/groups/{g}"), json!({"invite_url": "javascript:alert(1)"})).await;
    assert_eq!((bad_url.status, bad_url.field()), (StatusCode::UNPROCESSABLE_ENTITY, "invite_url"));
    let ghost = app
        .post(
            "/v1/channels",
            json!({"name": "a", "source": "offline", "target": {"group_ids": [uuid::Uuid::now_v7()]}}),
        )
        .await;
    assert_eq!((ghost.status, ghost.field()), (StatusCode::NOT_FOUND, "target.group_ids"));
    assert_eq!(app.count("channels").await, 0, "nothing stored");
    let r = app.post("/v1/channels", json!({"name": "a", "source": "offline", "target": {"group_ids": [g]}})).await;
    let (id, link) = (r.id(), r.body["link"].as_str().unwrap().to_owned());
    let again = app.post("/v1/channels", json!({"name": "a", "source": "offline", "target": {"group_ids": [g]}})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "name_taken"));
    // Another workspace: not its channel, nor its groups as a target.
    let other = app.other_workspace("other").await;
    let seen = app.send(Method::GET, &format!("/v1/channels/{id}"), Some(&other), None).await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
    let listed = app.send(Method::GET, "/v1/channels", Some(&other), None).await;
    assert_eq!(listed.body["items"], json!([]));
    let theirs = app
        .send(
            Method::POST,
            "/v1/channels",
            Some(&other),
            Some(json!({"name": "b", "source": "offline", "target": {"group_ids": [g]}})),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    // Unknown and malformed codes (they count toward the limit too: no
    // guessing codes at speed); then the per-address limit.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for code in ["AAAAAAAAAA", "short"] {
        let r = client.get(format!("{}/c/{code}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{code}");
    }
    let mut statuses = vec![];
    for _ in 2..20 {
        statuses.push(visit(&app, &link).await.0);
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::FOUND), "{statuses:?}");
    let (status, body) = visit(&app, &link).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("rate_limited"), "{body}");
}
