//! Groups, tags and staff.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

async fn group(app: &TestApp, external_id: &str, extra: serde_json::Value) -> String {
    let mut body = json!({"platform": "telegram", "external_id": external_id, "name": format!("群 {external_id}")});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.post("/v1/groups", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

#[tokio::test]
async fn a_group_is_created_as_in_the_contract_example_and_read_back() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": "-1001234567", "name": "上海宝妈VIP群",
                   "timezone": "Asia/Shanghai", "region": "shanghai", "category": "mother_baby",
                   "tier": "vip", "tags": ["vip", "shanghai", "vip"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["tags"], json!(["shanghai", "vip"]));
    assert_eq!(r.body["member_count"], 0);
    assert_eq!(r.body["status"], "active");
    let got = app.get(&format!("/v1/groups/{}", r.id())).await;
    assert_eq!(got.body["name"], "上海宝妈VIP群");
    assert_eq!(got.body["tier"], "vip");
    let dup = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-1001234567", "name": "x"})).await;
    assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "already_exists"));
    // The same chat id on another platform is another group.
    let other = app.post("/v1/groups", json!({"platform": "slack", "external_id": "-1001234567", "name": "x"})).await;
    assert_eq!(other.status, StatusCode::CREATED);
}

#[tokio::test]
async fn group_input_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"platform": "whatsapp", "external_id": "1", "name": "x"}), "platform"),
        (json!({"platform": "telegram", "external_id": "", "name": "x"}), "external_id"),
        (json!({"platform": "telegram", "external_id": "1", "name": ""}), "name"),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "timezone": "Asia/Beijing"}), "timezone"),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "tier": "platinum"}), "tier"),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "attributes": [1]}), "attributes"),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "tags": [""]}), "tags[0]"),
        (
            json!({"platform": "telegram", "external_id": "1", "name": "x", "owner_staff_id": "01900000-0000-7000-8000-000000000000"}),
            "owner_staff_id",
        ),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "status": "deleted"}), "status"),
        (json!({"platform": "telegram", "external_id": "1", "name": "x", "member_count": 5}), "member_count"),
    ];
    for (body, field) in cases {
        let r = app.post("/v1/groups", body.clone()).await;
        let unknown = field == "tier" || field == "owner_staff_id";
        let want = if unknown { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!((r.status, r.field()), (want, field), "{body}: {:?}", r.body);
    }
    assert_eq!(app.count("groups").await, 0);
    assert_eq!(app.count("tags").await, 0);
}

#[tokio::test]
async fn groups_are_filtered_searched_and_paged_stably() {
    let app = TestApp::spawn().await;
    let a = group(&app, "a", json!({"tier": "vip", "region": "shanghai", "tags": ["beauty"]})).await;
    let b = group(&app, "b", json!({"tier": "basic", "region": "beijing", "tags": ["beauty", "new"]})).await;
    let c =
        group(&app, "c", json!({"platform": "wecom", "tier": "vip", "region": "shanghai", "name": "学习打卡群"})).await;
    let ids = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&app.get("/v1/groups").await), [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?tier=vip").await), [c.as_str(), a.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?tag=beauty").await), [b.as_str(), a.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?tag=new,missing").await), [b.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?platform=wecom").await), [c.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?region=shanghai&tier=vip&platform=telegram").await), [a.as_str()]);
    assert_eq!(ids(&app.get(&format!("/v1/groups?q={}", urlencode("打卡"))).await), [c.as_str()]);
    assert_eq!(ids(&app.get("/v1/groups?q=%25").await), Vec::<String>::new());

    let p1 = app.get("/v1/groups?limit=2").await;
    assert_eq!(ids(&p1), [c.as_str(), b.as_str()]);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app.get(&format!("/v1/groups?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&p2), [a.as_str()]);
    assert!(p2.body["next_cursor"].is_null());

    let r = app.get("/v1/groups?status=gone").await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "status"));
    let r = app.get("/v1/groups?limit=500").await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "limit"));
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn patching_a_group_changes_only_what_is_sent_and_null_clears() {
    let app = TestApp::spawn().await;
    let id = group(&app, "g", json!({"region": "shanghai", "category": "beauty", "tier": "vip", "tags": ["a"]})).await;
    let r = app.patch(&format!("/v1/groups/{id}"), json!({"region": null, "name": "改名了", "tags": ["b", "c"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["region"], json!(null));
    assert_eq!(r.body["category"], "beauty");
    assert_eq!(r.body["tier"], "vip");
    assert_eq!(r.body["name"], "改名了");
    assert_eq!(r.body["tags"], json!(["b", "c"]));
    let r = app.patch(&format!("/v1/groups/{id}"), json!({"status": "archived", "tier": "gold"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "tier"));
    assert_eq!(app.get(&format!("/v1/groups/{id}")).await.body["status"], "active");
    let r = app.patch(&format!("/v1/groups/{id}"), json!({"status": "archived"})).await;
    assert_eq!(r.body["status"], "archived");
}

#[tokio::test]
async fn tags_are_shared_counted_renamed_and_deleted_everywhere() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g", json!({"tags": ["vip"]})).await;
    let list = app.get("/v1/tags").await;
    let tag = &list.body["items"][0];
    assert_eq!((tag["name"].as_str(), tag["group_count"].as_i64()), (Some("vip"), Some(1)));
    let id = tag["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/v1/tags/{id}")).await.body["name"], "vip");
    assert_eq!(app.get("/v1/tags?q=vi").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/tags?q=zz").await.body["items"], json!([]));
    let r = app.patch(&format!("/v1/tags/{id}"), json!({"name": "VIP", "color": "#ff0000"})).await;
    assert_eq!(r.body["color"], "#ff0000");
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["tags"], json!(["VIP"]));
    assert_eq!(app.post("/v1/tags", json!({"name": "VIP"})).await.status, StatusCode::CONFLICT);
    assert_eq!(app.post("/v1/tags", json!({"name": "x", "color": "red"})).await.field(), "color");
    assert_eq!(app.delete(&format!("/v1/tags/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["tags"], json!([]));
}

#[tokio::test]
async fn staff_are_managed_and_assigned_to_groups_with_roles() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g", json!({})).await;
    let r = app
        .post("/v1/staff", json!({"name": "小美", "persona": "owner", "identities": [{"platform": "wecom", "external_id": "zhangsan"}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let s = r.id();
    let bot = app.post("/v1/staff", json!({"name": "签到助手", "persona": "bot"})).await.id();
    assert_eq!(app.post("/v1/staff", json!({"name": "x", "persona": "boss"})).await.field(), "persona");

    let r = app.put(&format!("/v1/groups/{g}/staff/{s}"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["items"][0]["role"], "owner");
    app.put(&format!("/v1/groups/{g}/staff/{bot}"), json!({"role": "assistant"})).await;
    let list = app.get(&format!("/v1/groups/{g}/staff")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    let r = app.patch(&format!("/v1/groups/{g}"), json!({"owner_staff_id": s})).await;
    assert_eq!(r.body["owner_staff_id"], s.as_str());
    assert_eq!(app.get(&format!("/v1/staff/{s}")).await.body["group_count"], 1);
    assert_eq!(app.get("/v1/staff?persona=bot").await.body["items"].as_array().unwrap().len(), 1);
    let r = app
        .patch(
            &format!("/v1/staff/{bot}"),
            json!({"name": "签到机器人", "active": false,
               "identities": [{"platform": "telegram", "external_id": "checkin_bot"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["active"].as_bool()),
        (StatusCode::OK, Some("签到机器人"), Some(false))
    );
    assert_eq!(r.body["identities"][0]["external_id"], "checkin_bot");
    assert_eq!(app.get("/v1/staff?active=true").await.body["items"].as_array().unwrap().len(), 1);
    let r = app.patch(&format!("/v1/staff/{bot}"), json!({"member_id": "01900000-0000-7000-8000-000000000000"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "member_id"));

    assert_eq!(app.delete(&format!("/v1/groups/{g}/staff/{bot}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/v1/groups/{g}/staff/{bot}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/v1/staff/{s}")).await.status, StatusCode::NO_CONTENT);
    let after = app.get(&format!("/v1/groups/{g}")).await;
    assert_eq!(after.body["owner_staff_id"], json!(null));
    assert_eq!(app.get(&format!("/v1/groups/{g}/staff")).await.body["items"], json!([]));
}

#[tokio::test]
async fn another_workspace_sees_none_of_these_groups_tags_or_staff() {
    let app = TestApp::spawn().await;
    let other = app.other_workspace("other").await;
    let g = group(&app, "g", json!({"tags": ["t"]})).await;
    let s = app.post("/v1/staff", json!({"name": "s", "persona": "expert"})).await.id();
    let t = app.get("/v1/tags").await.body["items"][0]["id"].as_str().unwrap().to_owned();
    for (m, path, body) in [
        (Method::GET, format!("/v1/groups/{g}"), None),
        (Method::PATCH, format!("/v1/groups/{g}"), Some(json!({"name": "hijack"}))),
        (Method::GET, format!("/v1/groups/{g}/staff"), None),
        (Method::PUT, format!("/v1/groups/{g}/staff/{s}"), Some(json!({}))),
        (Method::GET, format!("/v1/staff/{s}"), None),
        (Method::PATCH, format!("/v1/staff/{s}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/v1/staff/{s}"), None),
        (Method::GET, format!("/v1/tags/{t}"), None),
        (Method::DELETE, format!("/v1/tags/{t}"), None),
    ] {
        let r = app.send(m.clone(), &path, Some(&other), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}");
    }
    for path in ["/v1/groups", "/v1/staff", "/v1/tags"] {
        let r = app.send(Method::GET, path, Some(&other), None).await;
        assert_eq!(r.body["items"], json!([]), "{path}");
    }
    // Their own group may use the same platform chat id: uniqueness is per workspace.
    let r = app
        .send(
            Method::POST,
            "/v1/groups",
            Some(&other),
            Some(json!({"platform": "telegram", "external_id": "g", "name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["name"], "群 g");
}
