//! Members, tiers on members, erasure, and membership stints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

async fn member(app: &TestApp, external_id: &str) -> String {
    let r = app
        .post("/v1/members", json!({"display_name": format!("m{external_id}"), "identities": [{"platform": "telegram", "external_id": external_id}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn group(app: &TestApp, external_id: &str) -> String {
    app.post("/v1/groups", json!({"platform": "telegram", "external_id": external_id, "name": "g"})).await.id()
}

#[tokio::test]
async fn a_member_is_created_as_in_the_contract_and_identities_are_unique() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/members",
            json!({"display_name": "Lily", "identities": [{"platform": "telegram", "external_id": "42"}],
                   "attributes": {"city": "Shanghai"}, "phone": "+86 138 1234 5678", "email": "lily@example.com", "tags": ["宝妈"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["identities"], json!([{"platform": "telegram", "external_id": "42"}]));
    assert_eq!(r.body["attributes"]["city"], "Shanghai");
    assert_eq!(r.body["tags"], json!(["宝妈"]));
    assert_eq!(r.body["first_seen_at"], "2026-11-20T02:00:00Z");
    let again = app.post("/v1/members", json!({"identities": [{"platform": "telegram", "external_id": "42"}]})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "identity_taken"));
    let found = app.get("/v1/members?platform=telegram&external_id=42").await;
    assert_eq!(found.body["items"][0]["id"], r.body["id"]);
    for (body, field) in [
        (json!({"phone": "call me"}), "phone"),
        (json!({"email": "nope"}), "email"),
        (json!({"identities": [{"platform": "telegram", "external_id": " 1"}]}), "identities[0].external_id"),
        (json!({"identities": [{"platform": "icq", "external_id": "1"}]}), "identities[0].platform"),
        (json!({"attributes": "x"}), "attributes"),
        (json!({"tier": "platinum"}), "tier"),
    ] {
        let r = app.post("/v1/members", body.clone()).await;
        let want = if field == "tier" { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!((r.status, r.field()), (want, field), "{body}: {:?}", r.body);
    }
    assert_eq!(app.count("members").await, 1);
}

#[tokio::test]
async fn viewers_see_masked_phone_and_email() {
    let app = TestApp::spawn().await;
    let id = app.post("/v1/members", json!({"phone": "13812345678", "email": "lily@example.com"})).await.id();
    let viewer = app.key_with_role("viewer").await;
    let r = app.send(Method::GET, &format!("/v1/members/{id}"), Some(&viewer), None).await;
    assert_eq!((r.body["phone"].as_str(), r.body["email"].as_str()), (Some("138****5678"), Some("l***@example.com")));
    let r = app.send(Method::GET, "/v1/members", Some(&viewer), None).await;
    assert!(!r.body.to_string().contains("13812345678"));
    assert_eq!(app.get(&format!("/v1/members/{id}")).await.body["phone"], "13812345678");
    // Personal data never reaches the audit log.
    let log = app.get("/v1/audit-log").await;
    assert!(!log.body.to_string().contains("13812345678") && !log.body.to_string().contains("lily@"));
}

#[tokio::test]
async fn patching_a_member_merges_attributes_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let id = app
        .post(
            "/v1/members",
            json!({"display_name": "Lily", "attributes": {"city": "Shanghai", "kids": 1}, "phone": "13812345678"}),
        )
        .await
        .id();
    let r = app
        .patch(&format!("/v1/members/{id}"), json!({"attributes": {"kids": null, "since": 2024}, "phone": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["attributes"], json!({"city": "Shanghai", "since": 2024}));
    assert_eq!(r.body["phone"], json!(null));
    assert_eq!(r.body["display_name"], "Lily");
    let r = app.patch(&format!("/v1/members/{id}"), json!({"tier": "vip"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "tier"));
}

#[tokio::test]
async fn every_tier_change_is_kept_with_reason_and_actor() {
    let app = TestApp::spawn().await;
    let id = member(&app, "1").await;
    let r =
        app.put(&format!("/v1/members/{id}/tier"), json!({"tier": "vip", "reason": "GMV over 2000 in 90 days"})).await;
    assert_eq!((r.status, r.body["tier"].as_str()), (StatusCode::OK, Some("vip")));
    app.clock.advance(chrono::Duration::days(30));
    app.put(&format!("/v1/members/{id}/tier"), json!({"tier": "basic", "reason": "no order for 30 days"})).await;
    app.put(&format!("/v1/members/{id}/tier"), json!({"tier": "basic", "reason": "same again"})).await;
    let r = app.put(&format!("/v1/members/{id}/tier"), json!({"tier": "diamond"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "tier"));
    let h = app.get(&format!("/v1/members/{id}/tier-history")).await;
    let items = h.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "an unchanged tier records nothing");
    assert_eq!((items[0]["from_tier"].as_str(), items[0]["to_tier"].as_str()), (Some("vip"), Some("basic")));
    assert_eq!(items[0]["changed_at"], "2026-12-20T02:00:00Z");
    assert_eq!(items[1]["reason"], "GMV over 2000 in 90 days");
    assert_eq!(items[1]["actor_type"], "api_key");
    // A tier in use cannot be deleted.
    let vip = app.get("/v1/tiers").await.body["items"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/v1/tiers/{vip}")).await.code(), "tier_in_use");
}

#[tokio::test]
async fn erasing_a_member_removes_personal_data_but_keeps_history() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g").await;
    let id = app
        .post("/v1/members", json!({"display_name": "Lily", "phone": "13812345678", "email": "l@example.com",
              "identities": [{"platform": "telegram", "external_id": "42"}], "tags": ["x"], "attributes": {"city": "SH"}}))
        .await
        .id();
    app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": id})).await;
    assert_eq!(app.delete(&format!("/v1/members/{id}")).await.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/v1/members/{id}")).await;
    assert_eq!(r.body["display_name"], "");
    assert_eq!((r.body["phone"].clone(), r.body["email"].clone()), (json!(null), json!(null)));
    assert_eq!(
        (r.body["identities"].clone(), r.body["tags"].clone(), r.body["attributes"].clone()),
        (json!([]), json!([]), json!({}))
    );
    assert!(r.body["erased_at"].is_string());
    let row: (String,) =
        sqlx::query_as("SELECT display_name || coalesce(phone, '') || coalesce(email, '') FROM members")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(row.0, "");
    assert_eq!(app.get(&format!("/v1/members/{id}/memberships")).await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/members").await.body["items"], json!([]));
    assert_eq!(app.get("/v1/members?include_erased=true").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.patch(&format!("/v1/members/{id}"), json!({"display_name": "back"})).await.code(), "member_erased");
    assert_eq!(app.delete(&format!("/v1/members/{id}")).await.status, StatusCode::NO_CONTENT);
    // The identity is free again: the same platform user comes back as a new member.
    let again = app.post("/v1/members", json!({"identities": [{"platform": "telegram", "external_id": "42"}]})).await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn joining_and_leaving_keeps_a_history_of_stints() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g").await;
    let lily = member(&app, "1").await;
    let inviter = member(&app, "2").await;
    let r = app
        .post(&format!("/v1/groups/{g}/members"),
            json!({"member_id": lily, "joined_at": "2026-11-01T09:00:00Z", "source": "invite_link", "inviter_id": inviter, "invite_code": "abc"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["source"].as_str(), r.body["invite_code"].as_str()), (Some("invite_link"), Some("abc")));
    let dup = app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": lily})).await;
    assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "already_member"));
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["member_count"], 1);

    let r = app.delete(&format!("/v1/groups/{g}/members/{lily}?left_at=2026-11-05T10:00:00Z&reason=left")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["left_at"], "2026-11-05T10:00:00Z");
    assert_eq!(app.delete(&format!("/v1/groups/{g}/members/{lily}")).await.code(), "not_a_member");
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["member_count"], 0);

    let inside = app
        .post(&format!("/v1/groups/{g}/members"), json!({"member_id": lily, "joined_at": "2026-11-03T00:00:00Z"}))
        .await;
    assert_eq!((inside.status, inside.code()), (StatusCode::CONFLICT, "overlapping_stint"));
    let rejoin = app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": lily, "source": "qr_code"})).await;
    assert_eq!(rejoin.status, StatusCode::CREATED);

    let current = app.get(&format!("/v1/groups/{g}/members")).await;
    assert_eq!(current.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(current.body["items"][0]["source"], "qr_code");
    let history = app.get(&format!("/v1/groups/{g}/members?include=history")).await;
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["joined_at"], "2026-11-01T09:00:00Z");
    assert_eq!(items[1]["left_at"], "2026-11-05T10:00:00Z");
    assert_eq!(items[1]["inviter_id"], inviter.as_str());
    assert_eq!(app.get(&format!("/v1/members/{lily}/memberships")).await.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn membership_input_is_checked_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g").await;
    let lily = member(&app, "1").await;
    let ghost = "01900000-0000-7000-8000-000000000000";
    let cases = [
        (json!({"member_id": ghost}), StatusCode::NOT_FOUND, "member_id"),
        (json!({"member_id": lily, "inviter_id": ghost}), StatusCode::NOT_FOUND, "inviter_id"),
        (json!({"member_id": lily, "inviter_id": lily}), StatusCode::UNPROCESSABLE_ENTITY, "inviter_id"),
        (json!({"member_id": lily, "source": "billboard"}), StatusCode::UNPROCESSABLE_ENTITY, "source"),
        (json!({"member_id": lily, "joined_at": "yesterday"}), StatusCode::UNPROCESSABLE_ENTITY, "joined_at"),
        (
            json!({"member_id": lily, "joined_at": "2027-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "joined_at",
        ),
        (json!({"member_id": "42"}), StatusCode::UNPROCESSABLE_ENTITY, "member_id"),
    ];
    for (body, status, field) in cases {
        let r = app.post(&format!("/v1/groups/{g}/members"), body.clone()).await;
        assert_eq!((r.status, r.field()), (status, field), "{body}: {:?}", r.body);
    }
    let r = app.post(&format!("/v1/groups/{ghost}/members"), json!({"member_id": lily})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": lily, "joined_at": "2026-11-10T00:00:00Z"})).await;
    // Well-formed, but before the stored stint's join: a conflict.
    let r = app.delete(&format!("/v1/groups/{g}/members/{lily}?left_at=2026-11-09T00:00:00Z")).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "before_join"));
    let r = app.delete(&format!("/v1/groups/{g}/members/{lily}?left=now")).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "left"));
    assert_eq!(app.count("memberships").await, 1);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE left_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(open, 1);
}

#[tokio::test]
async fn the_database_itself_refuses_two_open_stints_and_a_leave_before_the_join() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g").await;
    let m = member(&app, "1").await;
    app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": m})).await;
    let ws = app.workspace_id.parse::<uuid::Uuid>().unwrap();
    let insert = sqlx::query(
        "INSERT INTO memberships (workspace_id, id, group_id, member_id, joined_at) VALUES ($1, $2, $3, $4, now())",
    )
    .bind(ws)
    .bind(uuid::Uuid::now_v7())
    .bind(g.parse::<uuid::Uuid>().unwrap())
    .bind(m.parse::<uuid::Uuid>().unwrap())
    .execute(&app.pool)
    .await;
    assert!(insert.unwrap_err().to_string().contains("memberships_one_open_stint"));
    let update =
        sqlx::query("UPDATE memberships SET left_at = joined_at - interval '1 second'").execute(&app.pool).await;
    assert!(update.unwrap_err().to_string().contains("memberships_left_after_joined"));
}

#[tokio::test]
async fn concurrent_joins_of_the_same_member_open_exactly_one_stint() {
    let app = TestApp::spawn().await;
    let g = group(&app, "g").await;
    let m = member(&app, "1").await;
    let path = format!("/v1/groups/{g}/members");
    let body = json!({"member_id": m});
    let results = futures_join(&app, &path, &body, 8).await;
    assert_eq!(results.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{results:?}");
    assert!(results.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{results:?}");
    assert_eq!(app.count("memberships").await, 1);
}

async fn futures_join(app: &TestApp, path: &str, body: &serde_json::Value, n: usize) -> Vec<StatusCode> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let req = app.client.post(format!("{}{}", app.base, path)).bearer_auth(&app.key).json(body);
        handles.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn another_workspace_cannot_touch_these_members_or_memberships() {
    let app = TestApp::spawn().await;
    let other = app.other_workspace("other").await;
    let g = group(&app, "g").await;
    let m = member(&app, "1").await;
    app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": m})).await;
    for (method, path, body) in [
        (Method::GET, format!("/v1/members/{m}"), None),
        (Method::PATCH, format!("/v1/members/{m}"), Some(json!({"display_name": "x"}))),
        (Method::DELETE, format!("/v1/members/{m}"), None),
        (Method::PUT, format!("/v1/members/{m}/tier"), Some(json!({"tier": "vip"}))),
        (Method::GET, format!("/v1/members/{m}/tier-history"), None),
        (Method::GET, format!("/v1/members/{m}/memberships"), None),
        (Method::GET, format!("/v1/groups/{g}/members"), None),
        (Method::DELETE, format!("/v1/groups/{g}/members/{m}"), None),
    ] {
        let r = app.send(method.clone(), &path, Some(&other), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {:?}", r.body);
    }
    // Joining their own group with our member id: the member is unknown to them.
    let theirs = app
        .send(
            Method::POST,
            "/v1/groups",
            Some(&other),
            Some(json!({"platform": "telegram", "external_id": "g", "name": "x"})),
        )
        .await
        .id();
    let r = app
        .send(Method::POST, &format!("/v1/groups/{theirs}/members"), Some(&other), Some(json!({"member_id": m})))
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "member_id"));
    assert_eq!(app.send(Method::GET, "/v1/members", Some(&other), None).await.body["items"], json!([]));
    assert_eq!(app.get(&format!("/v1/members/{m}")).await.body["display_name"], "m1");
}

#[tokio::test]
async fn every_matching_member_is_exported_as_csv_page_after_page_masked_and_scoped() {
    let app = TestApp::spawn().await;
    let g = group(&app, "-1").await;
    // 1,203 members: more than one export page (1,000 rows).
    for batch in 0..3 {
        let events: Vec<_> = (0..401)
            .map(|i| {
                let n = batch * 401 + i;
                json!({"id": format!("5b1f0000-0000-4000-8000-{n:012}"), "type": "member_joined", "occurred_at": "2026-11-20T01:00:00Z",
                       "group_id": g, "member": {"platform": "telegram", "external_id": format!("u{n}"),
                       "name": format!("member {n}")}})
            })
            .collect();
        let r = app.post("/v1/events", json!(events)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["accepted"], 401, "{:?}", r.body["results"][0]);
    }
    let odd = app
        .post(
            "/v1/members",
            json!({"display_name": "=HYPERLINK(\"http://x\"), \"y\"", "phone": "13812345678",
                   "identities": [{"platform": "slack", "external_id": "U1"}], "tags": ["vip"]}),
        )
        .await;
    assert_eq!(odd.status, StatusCode::CREATED, "{:?}", odd.body);
    let other = app.other_workspace("other").await;
    app.send(Method::POST, "/v1/members", Some(&other), Some(json!({"display_name": "not yours"}))).await;

    let r = app.client.get(format!("{}/v1/members?format=csv", app.base)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"members.csv\"");
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,display_name,phone,email,identities,tier,tags,is_staff,is_bot,first_seen_at,last_active_at,erased_at"
    );
    assert_eq!(lines.len(), 1 + 1204, "every member once, across pages");
    let ids: std::collections::HashSet<&str> = lines[1..].iter().map(|l| &l[..36]).collect();
    assert_eq!(ids.len(), 1204, "no member twice");
    assert!(!text.contains("not yours"), "another workspace's members stay out");
    let odd_line = lines.iter().find(|l| l.starts_with(&odd.id())).unwrap();
    assert!(
        odd_line.contains(",\"'=HYPERLINK(\"\"http://x\"\"), \"\"y\"\"\",13812345678,,slack:U1,,vip,false,false,"),
        "quoted, kept as text, unmasked for an owner: {odd_line}"
    );

    // A viewer's export is masked like a viewer's JSON; filters apply.
    let viewer = app.key_with_role("viewer").await;
    let r = app
        .client
        .get(format!("{}/v1/members?format=csv&tag=vip", app.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("138****5678") && !text.contains("13812345678"), "{text}");

    let bad = app.get("/v1/members?format=xml").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", bad.body);
    let groups = app.get_text("/v1/groups?format=csv").await;
    assert!(
        groups.starts_with("id,name,platform,external_id,status,") && groups.contains(",telegram,-1,active,"),
        "{groups}"
    );
    assert!(groups.contains(",1203,"), "the open stints of the group: {groups}");
}
