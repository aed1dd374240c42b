//! Layers (saved group selectors) and campaigns (lifecycle, targets, codes).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Resp, TestApp};

async fn group(app: &TestApp, ext: &str, extra: serde_json::Value) -> String {
    let mut body = json!({"platform": "telegram", "external_id": ext, "name": ext});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.post("/v1/groups", body).await.id()
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_layer_resolves_live_by_its_selector() {
    let app = TestApp::spawn().await;
    let sh_vip = group(&app, "1", json!({"tier": "vip", "region": "shanghai", "tags": ["beauty"]})).await;
    let bj_vip = group(&app, "2", json!({"tier": "vip", "region": "beijing"})).await;
    let sh_basic = group(&app, "3", json!({"tier": "basic", "region": "shanghai", "tags": ["beauty", "new"]})).await;
    let archived = group(&app, "4", json!({"tier": "vip", "status": "archived"})).await;

    let vip = app.post("/v1/layers", json!({"name": "VIP groups", "selector": {"tiers": ["vip"]}})).await;
    assert_eq!(vip.status, StatusCode::CREATED, "{:?}", vip.body);
    assert_eq!(vip.body["selector"]["statuses"], json!(["active"]));
    let vip = vip.id();
    assert_eq!(ids(&app.get(&format!("/v1/layers/{vip}/groups")).await), [bj_vip.as_str(), sh_vip.as_str()]);

    let sh = app
        .post(
            "/v1/layers",
            json!({"name": "Shanghai beauty + one", "selector": {"regions": ["shanghai"], "tags": ["beauty"],
               "group_ids": [bj_vip], "exclude_group_ids": [sh_basic]}}),
        )
        .await
        .id();
    assert_eq!(ids(&app.get(&format!("/v1/layers/{sh}/groups")).await), [bj_vip.as_str(), sh_vip.as_str()]);
    let both =
        app.post("/v1/layers", json!({"name": "both tags", "selector": {"tags_all": ["beauty", "new"]}})).await.id();
    assert_eq!(ids(&app.get(&format!("/v1/layers/{both}/groups")).await), [sh_basic.as_str()]);
    let only = app
        .post(
            "/v1/layers",
            json!({"name": "explicit", "selector": {"group_ids": [sh_basic, archived], "statuses": []}}),
        )
        .await
        .id();
    assert_eq!(ids(&app.get(&format!("/v1/layers/{only}/groups")).await), [archived.as_str(), sh_basic.as_str()]);
    let all = app.post("/v1/layers", json!({"name": "all", "selector": {}})).await.id();
    assert_eq!(app.get(&format!("/v1/layers/{all}")).await.body["name"], "all");
    assert_eq!(app.get("/v1/layers?limit=2").await.body["items"].as_array().unwrap().len(), 2);
    assert!(app.get("/v1/layers?limit=2").await.body["next_cursor"].is_string());
    assert_eq!(ids(&app.get(&format!("/v1/layers/{all}/groups")).await).len(), 3);

    // Live: tagging a group later puts it in the layer.
    app.patch(&format!("/v1/groups/{bj_vip}"), json!({"tags": ["beauty", "new"]})).await;
    assert_eq!(ids(&app.get(&format!("/v1/layers/{both}/groups")).await), [sh_basic.as_str(), bj_vip.as_str()]);
    let r = app.patch(&format!("/v1/layers/{vip}"), json!({"selector": {"tiers": ["basic"]}})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ids(&app.get(&format!("/v1/layers/{vip}/groups")).await), [sh_basic.as_str()]);
}

#[tokio::test]
async fn layer_input_is_validated() {
    let app = TestApp::spawn().await;
    let ghost = "01900000-0000-7000-8000-000000000000";
    for (body, field) in [
        (json!({"name": "", "selector": {}}), "name"),
        (json!({"name": "x"}), "selector"),
        (json!({"name": "x", "selector": {"tier": ["vip"]}}), "selector.tier"),
        (json!({"name": "x", "selector": {"tiers": ["VIP!"]}}), "selector.tiers[0]"),
        (json!({"name": "x", "selector": {"platforms": ["myspace"]}}), "selector.platforms[0]"),
        (json!({"name": "x", "selector": {"group_ids": [ghost]}}), "selector.group_ids[0]"),
    ] {
        let r = app.post("/v1/layers", body.clone()).await;
        let want =
            if field.ends_with("group_ids[0]") { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!((r.status, r.field()), (want, field), "{body}: {:?}", r.body);
    }
    app.post("/v1/layers", json!({"name": "x", "selector": {}})).await;
    assert_eq!(app.post("/v1/layers", json!({"name": "x", "selector": {}})).await.code(), "already_exists");
    assert_eq!(app.count("layers").await, 1);
}

#[tokio::test]
async fn a_campaign_moves_only_through_legal_transitions() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "10点福利", "scene": "conversion", "kind": "flash_sale",
               "starts_at": "2026-11-21T02:00:00Z", "ends_at": "2026-11-21T04:00:00Z", "tracking_code": "welfare-1120",
               "link": "https://shop.example.com/p/1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["tracking_code"].as_str()), (Some("draft"), Some("welfare-1120")));
    assert_eq!(r.body["target"], json!(null));
    let id = r.id();
    let status = |s: &str| json!({"status": s});
    let path = format!("/v1/campaigns/{id}/status");
    let bad = app.post(&path, status("ended")).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::CONFLICT, "invalid_transition"));
    assert_eq!(app.post(&path, status("scheduled")).await.body["status"], "scheduled");
    assert_eq!(app.post(&path, status("running")).await.body["status"], "running");
    let r = app.patch(&format!("/v1/campaigns/{id}"), json!({"tracking_code": "other"})).await;
    assert_eq!(r.code(), "tracking_code_locked");
    // Ending after the planned end keeps the planned end time.
    app.clock.advance(chrono::Duration::days(2));
    let ended = app.post(&path, status("ended")).await;
    assert_eq!(ended.body["status"], "ended");
    assert_eq!(ended.body["ends_at"], "2026-11-21T04:00:00Z");
    assert_eq!(app.post(&path, status("running")).await.code(), "invalid_transition");
    assert_eq!(app.post(&path, status("cancelled")).await.code(), "invalid_transition");
    assert_eq!(app.patch(&format!("/v1/campaigns/{id}"), json!({"name": "x"})).await.code(), "campaign_closed");
    assert_eq!(app.delete(&format!("/v1/campaigns/{id}")).await.code(), "not_a_draft");
    assert_eq!(app.post(&path, status("paused")).await.field(), "status");
    let log = app.get("/v1/audit-log?action=campaign.status").await;
    assert_eq!(log.body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn scheduling_needs_a_future_start_and_running_fills_the_start() {
    let app = TestApp::spawn().await;
    let id = app.post("/v1/campaigns", json!({"name": "签到", "scene": "activity", "kind": "check_in"})).await.id();
    let path = format!("/v1/campaigns/{id}/status");
    let r = app.post(&path, json!({"status": "scheduled"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "starts_at"));
    let r = app.post(&path, json!({"status": "running"})).await;
    assert_eq!(r.body["starts_at"], "2026-11-20T02:00:00Z");
    let r = app.post(&path, json!({"status": "cancelled"})).await;
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["ends_at"].is_string());
}

#[tokio::test]
async fn campaign_targets_codes_and_periods_are_validated() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g", json!({})).await;
    let layer = app.post("/v1/layers", json!({"name": "l", "selector": {}})).await.id();
    let ghost = "01900000-0000-7000-8000-000000000000";
    let base = || json!({"name": "c", "scene": "fission", "kind": "lottery"});
    let with = |extra: serde_json::Value| {
        let mut b = base();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    for (body, field) in [
        (with(json!({"scene": "growth"})), "scene"),
        (with(json!({"kind": "raffle"})), "kind"),
        (with(json!({"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"})), "ends_at"),
        (with(json!({"target": {"layer_id": layer, "group_ids": [g]}})), "target"),
        (with(json!({"target": {}})), "target"),
        (with(json!({"target": {"group_ids": [ghost]}})), "target.group_ids[0]"),
        (with(json!({"target": {"layer_id": ghost}})), "target.layer_id"),
        (with(json!({"tracking_code": "Has Space"})), "tracking_code"),
        (with(json!({"link": "javascript:alert(1)"})), "link"),
        (with(json!({"settings": [1]})), "settings"),
        (with(json!({"status": "running"})), "status"),
    ] {
        let r = app.post("/v1/campaigns", body.clone()).await;
        // A record the body names that is not in the workspace is a 404 naming the field.
        let want = if field.starts_with("target.") { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!((r.status, r.field()), (want, field), "{body}: {:?}", r.body);
    }
    assert_eq!(app.count("campaigns").await, 0);

    let a = app.post("/v1/campaigns", with(json!({"target": {"group_ids": [g]}}))).await;
    assert_eq!(a.body["target"], json!({"group_ids": [g]}));
    assert!(a.body["tracking_code"].as_str().unwrap().starts_with("c-"));
    let b = app.post("/v1/campaigns", with(json!({"target": {"layer_id": layer}, "tracking_code": "lottery-1"}))).await;
    assert_eq!(b.body["target"], json!({"layer_id": layer}));
    let dup = app.post("/v1/campaigns", with(json!({"tracking_code": "lottery-1"}))).await;
    assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "already_exists"));
    assert_eq!(app.delete(&format!("/v1/layers/{layer}")).await.code(), "layer_in_use");
    let r = app.patch(&format!("/v1/campaigns/{}", b.id()), json!({"target": null})).await;
    assert_eq!(r.body["target"], json!(null));
    assert_eq!(app.delete(&format!("/v1/layers/{layer}")).await.status, StatusCode::NO_CONTENT);
    let found = app.get("/v1/campaigns?tracking_code=lottery-1").await;
    assert_eq!(ids(&found), [b.id()]);
    assert_eq!(ids(&app.get("/v1/campaigns?kind=lottery&scene=fission").await).len(), 2);
    assert_eq!(app.delete(&format!("/v1/campaigns/{}", a.id())).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn another_workspace_cannot_see_use_or_change_these_layers_and_campaigns() {
    let app = TestApp::spawn().await;
    let other = app.other_workspace("other").await;
    let g = group(&app, "g", json!({})).await;
    let layer = app.post("/v1/layers", json!({"name": "l", "selector": {"group_ids": [g]}})).await.id();
    let c = app
        .post("/v1/campaigns", json!({"name": "c", "scene": "activity", "kind": "check_in", "tracking_code": "t1"}))
        .await
        .id();
    for (m, path, body) in [
        (Method::GET, format!("/v1/layers/{layer}"), None),
        (Method::GET, format!("/v1/layers/{layer}/groups"), None),
        (Method::PATCH, format!("/v1/layers/{layer}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/v1/layers/{layer}"), None),
        (Method::GET, format!("/v1/campaigns/{c}"), None),
        (Method::PATCH, format!("/v1/campaigns/{c}"), Some(json!({"name": "x"}))),
        (Method::POST, format!("/v1/campaigns/{c}/status"), Some(json!({"status": "running"}))),
        (Method::DELETE, format!("/v1/campaigns/{c}"), None),
    ] {
        let r = app.send(m.clone(), &path, Some(&other), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}");
    }
    // Our ids are unknown to them as targets, and our tracking code is free for them.
    let r = app
        .send(Method::POST, "/v1/layers", Some(&other), Some(json!({"name": "l", "selector": {"group_ids": [g]}})))
        .await;
    assert_eq!(r.field(), "selector.group_ids[0]");
    let r = app
        .send(Method::POST, "/v1/campaigns", Some(&other),
            Some(json!({"name": "c", "scene": "activity", "kind": "check_in", "tracking_code": "t1", "target": {"layer_id": layer}})))
        .await;
    assert_eq!(r.field(), "target.layer_id");
    let r = app
        .send(
            Method::POST,
            "/v1/campaigns",
            Some(&other),
            Some(json!({"name": "c", "scene": "activity", "kind": "check_in", "tracking_code": "t1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get(&format!("/v1/campaigns/{c}")).await.body["status"], "draft");
}

#[tokio::test]
async fn a_draft_used_by_a_coupon_template_or_flash_sale_is_not_deleted() {
    let app = TestApp::spawn().await;
    let c = app.post("/v1/campaigns", json!({"name": "welfare", "scene": "conversion", "kind": "coupon"})).await.id();
    let t = app
        .post(
            "/v1/coupon-templates",
            json!({"name": "券", "campaign_id": c, "discount": {"kind": "amount_off", "amount": 500},
              "validity": {"kind": "after_claim", "days": 7}}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let r = app.delete(&format!("/v1/campaigns/{c}")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_in_use")),
        "{:?}",
        r.body
    );
    assert_eq!(app.get(&format!("/v1/campaigns/{c}")).await.status, StatusCode::OK);
}
