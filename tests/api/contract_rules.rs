//! The rules the OpenAPI document states since issue 25: what a client
//! generated from it may send is accepted, and where a request does not
//! fit what is stored the answer says so (409), changing nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {:?}", r.body);
    r.body
}

#[tokio::test]
async fn another_platforms_credentials_on_rotation_are_a_conflict_and_change_nothing() {
    let app = TestApp::spawn().await;
    let c = created(
        &app,
        "/v1/connections",
        json!({"platform": "generic", "credentials": {"secret": "old-secret-0123456789"}}),
    )
    .await;
    let rotate = format!("/v1/connections/{}/rotate", c["id"].as_str().unwrap());
    let r = app.post(&rotate, json!({"credentials": {"bot_token": "1:abc", "secret_token": "s3cr3t"}})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "platform_mismatch"), "{:?}", r.body);
    let r = app.post(&rotate, json!({"credentials": {"nonsense": "x"}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "no platform's credentials: {:?}", r.body);
    let now = app.get(&format!("/v1/connections/{}", c["id"].as_str().unwrap())).await;
    assert_eq!(now.body["previous_valid_until"], Value::Null, "nothing was rotated");
}

#[tokio::test]
async fn a_content_patch_that_leaves_it_unfit_for_its_kind_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let c = created(&app, "/v1/contents", json!({"name": "hi", "kind": "text", "text": "你好"})).await;
    let path = format!("/v1/contents/{}", c["id"].as_str().unwrap());
    let r = app.patch(&path, json!({"kind": "link"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "content_kind_mismatch"), "{:?}", r.body);
    let r = app.patch(&path, json!({"text": "   "})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "text"), "a bad value is still a 422");
    let now = app.get(&path).await;
    assert_eq!((&now.body["kind"], &now.body["text"]), (&json!("text"), &json!("你好")));
}

#[tokio::test]
async fn metric_scopes_combine_as_the_intersection_of_their_groups() {
    let app = TestApp::spawn().await;
    // `vip` is one of a new workspace's tiers.
    let vip =
        created(&app, "/v1/groups", json!({"platform": "telegram", "external_id": "1", "name": "a", "tier": "vip"}))
            .await;
    let basic = created(&app, "/v1/groups", json!({"platform": "telegram", "external_id": "2", "name": "b"})).await;
    let groups = |q: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/v1/metrics/groups/health?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {:?}", r.body);
            let c = &r.body["counts"];
            ["healthy", "declining", "dead"].iter().map(|k| c[k].as_i64().unwrap()).sum::<i64>()
        }
    };
    assert_eq!(groups(String::new()).await, 2);
    assert_eq!(groups("tier=vip".into()).await, 1);
    assert_eq!(groups(format!("tier=vip&group_id={}", vip["id"].as_str().unwrap())).await, 1);
    assert_eq!(groups(format!("tier=vip&group_id={}", basic["id"].as_str().unwrap())).await, 0);
}

#[tokio::test]
async fn members_are_found_by_an_external_id_on_any_platform() {
    let app = TestApp::spawn().await;
    let m = created(&app, "/v1/members", json!({"identities": [{"platform": "slack", "external_id": "U42"}]})).await;
    created(&app, "/v1/members", json!({"identities": [{"platform": "slack", "external_id": "U43"}]})).await;
    let r = app.get("/v1/members?external_id=U42").await;
    let ids: Vec<&Value> = r.body["items"].as_array().unwrap().iter().map(|i| &i["id"]).collect();
    assert_eq!(ids, [&m["id"]]);
    let r = app.get("/v1/members?external_id=U42&platform=telegram").await;
    assert_eq!(r.body["items"], json!([]), "with a platform, only that platform");
}

#[tokio::test]
async fn cursors_are_uuids_and_the_earlier_form_is_still_read() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    for name in ["a", "b", "c"] {
        created(&app, "/v1/tags", json!({"name": name})).await;
    }
    let first = app.get("/v1/tags?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert!(cursor.parse::<uuid::Uuid>().is_ok(), "{cursor}");
    let next = app.get(&format!("/v1/tags?limit=1&cursor={cursor}")).await;
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{cursor}"));
    let same = app.get(&format!("/v1/tags?limit=1&cursor={old}")).await;
    assert_eq!(next.body["items"], same.body["items"]);
    assert_ne!(next.body["items"], first.body["items"]);
    for bad in ["nope", ""] {
        let r = app.get(&format!("/v1/tags?cursor={bad}")).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "cursor"), "{bad:?}");
    }
}

#[tokio::test]
async fn whole_numbers_written_as_floats_are_integers() {
    let app = TestApp::spawn().await;
    let t = created(&app, "/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 1071.0})).await;
    assert_eq!(t["rank"], json!(1071));
    let r = app.post("/v1/tiers", json!({"key": "silver", "name": "Silver", "rank": 1.5})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "rank"));
    let c = created(
        &app,
        "/v1/connections",
        json!({"platform": "generic", "credentials": {"secret": "s-0123456789abcdef"},
               "settings": {"group_daily_cap": 5.0}}),
    )
    .await;
    assert_eq!(c["settings"]["group_daily_cap"], json!(5), "stored as the integer the scheduler reads");
}

#[tokio::test]
async fn one_end_of_a_period_against_the_other_stored_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let campaign = created(
        &app,
        "/v1/campaigns",
        json!({"name": "双十二", "scene": "conversion", "kind": "flash_sale",
               "starts_at": "2026-12-12T02:00:00Z", "ends_at": "2026-12-12T14:00:00Z"}),
    )
    .await;
    let path = format!("/v1/campaigns/{}", campaign["id"].as_str().unwrap());
    let r = app.patch(&path, json!({"ends_at": "2026-12-11T00:00:00Z"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "before_start"), "{:?}", r.body);
    let r = app.patch(&path, json!({"starts_at": "2026-12-13T00:00:00Z", "ends_at": "2026-12-12T00:00:00Z"})).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "ends_at"),
        "both given: the request is wrong"
    );
    assert_eq!(app.get(&path).await.body["ends_at"], json!("2026-12-12T14:00:00Z"));

    let content = created(&app, "/v1/contents", json!({"name": "早安", "kind": "text", "text": "早安"})).await;
    let plan = created(
        &app,
        "/v1/sop-plans",
        json!({"name": "每日早安", "target": {"tier": "vip"}, "starts_on": "2026-12-01", "ends_on": "2026-12-31",
               "steps": [{"content_id": content["id"], "timing": {"kind": "cron", "expr": "0 22-1 * * fri-mon"}}]}),
    )
    .await;
    let path = format!("/v1/sop-plans/{}", plan["id"].as_str().unwrap());
    let r = app.patch(&path, json!({"ends_on": "2026-11-30"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "before_start"), "{:?}", r.body);
    let r = app.patch(&path, json!({"starts_on": "2026-12-02", "ends_on": "2026-12-01"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "ends_on"));
    assert_eq!(app.get(&path).await.body["ends_on"], json!("2026-12-31"));
}

#[tokio::test]
async fn bodies_are_objects_and_errors_show_a_nul_as_its_escape() {
    let app = TestApp::spawn().await;
    let content = created(&app, "/v1/contents", json!({"name": "hi", "kind": "text", "text": "你好"})).await;
    let path = format!("/v1/contents/{}", content["id"].as_str().unwrap());
    // serde would read an array positionally, as a patch of two fields.
    let r = app.patch(&path, json!([null, null])).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "body"), "{:?}", r.body);
    assert_eq!(app.get(&path).await.body["text"], json!("你好"));

    let r = app.post("/v1/members", json!({"display_name": "a", "attributes": {"city\u{0}": "上海"}})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "attributes.city\\u0000"), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("city\\u0000") && !message.contains('\0'), "{message}");
    assert_eq!(app.count("members").await, 0);
}
