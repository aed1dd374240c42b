//! The event store and the batch API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp};

fn statuses(r: &Resp) -> Vec<String> {
    r.body["results"].as_array().unwrap().iter().map(|x| x["status"].as_str().unwrap().to_owned()).collect()
}

async fn events_of(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/events?limit=200{query}")).await.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_contract_batch_is_accepted_once_and_creates_what_it_names() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/campaigns",
        json!({"name": "福利", "scene": "conversion", "kind": "flash_sale", "tracking_code": "welfare-1120"}),
    )
    .await;
    let lily = app.post("/v1/members", json!({"display_name": "Lily"})).await.id();
    let g = app.post("/v1/groups", json!({"platform": "slack", "external_id": "C1", "name": "g"})).await.id();
    let batch = json!([
        {"id": "5b1f0000-0000-4000-8000-000000000001", "type": "order_paid", "occurred_at": "2026-11-20T02:01:00Z",
         "member": {"platform": "generic", "external_id": "u-77"},
         "group": {"platform": "telegram", "external_id": "-1001234567"},
         "campaign_code": "welfare-1120", "order_id": "A1001", "amount": 19900, "currency": "CNY",
         "properties": {"sku": "diapers-L"}},
        {"id": "5b200000-0000-4000-8000-000000000002", "type": "message_sent", "occurred_at": "2026-11-20T01:00:00Z",
         "member_id": lily, "group_id": g}
    ]);
    let r = app.post("/v1/events", batch.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64(), r.body["rejected"].as_u64()),
        (Some(2), Some(0), Some(0))
    );
    assert_eq!(r.body["results"][0]["event_id"], "5b1f0000-0000-4000-8000-000000000001");
    let again = app.post("/v1/events", batch).await;
    assert_eq!(statuses(&again), ["duplicate", "duplicate"]);
    assert_eq!(app.count("events").await, 2);

    let stored = events_of(&app, "&type=order_paid").await;
    assert_eq!(stored.len(), 1);
    let campaign = app.get("/v1/campaigns?tracking_code=welfare-1120").await.body["items"][0]["id"].clone();
    assert_eq!(stored[0]["campaign_id"], campaign);
    assert_eq!(
        (stored[0]["amount"].as_i64(), stored[0]["properties"]["sku"].as_str()),
        (Some(19900), Some("diapers-L"))
    );
    // The unknown member and group were created on first sight.
    let member = app.get("/v1/members?platform=generic&external_id=u-77").await;
    assert_eq!(member.body["items"][0]["id"], stored[0]["member_id"]);
    let group = app.get("/v1/groups?platform=telegram").await;
    assert_eq!(group.body["items"][0]["external_id"], "-1001234567");
    assert_eq!(group.body["items"][0]["id"], stored[0]["group_id"]);
    // Activity moved Lily's last-active time.
    assert_eq!(app.get(&format!("/v1/members/{lily}")).await.body["last_active_at"], "2026-11-20T01:00:00Z");
}

#[tokio::test]
async fn one_payment_per_order_whatever_the_event_id() {
    let app = TestApp::spawn().await;
    let paid = |id: &str, at: &str| json!({"id": id, "type": "order_paid", "occurred_at": at, "order_id": "A1", "amount": 100, "currency": "CNY"});
    let r =
        app.post("/v1/events", json!([paid("p1", "2026-11-19T00:00:00Z"), paid("p2", "2026-11-19T00:00:05Z")])).await;
    assert_eq!(statuses(&r), ["accepted", "duplicate"]);
    let first = r.body["results"][0]["event_id"].clone();
    assert_eq!(r.body["results"][1]["event_id"], first);
    let later = app.post("/v1/events", json!([paid("p3", "2026-11-19T01:00:00Z")])).await;
    assert_eq!((statuses(&later), later.body["results"][0]["event_id"].clone()), (vec!["duplicate".to_owned()], first));
    // Placing and refunding the same order are separate facts.
    let other = app
        .post("/v1/events", json!([{"id": "o1", "type": "order_placed", "occurred_at": "2026-11-18T23:00:00Z", "order_id": "A1"},
                                   {"id": "r1", "type": "order_refunded", "occurred_at": "2026-11-19T02:00:00Z", "order_id": "A1", "amount": 100, "currency": "CNY"}]))
        .await;
    assert_eq!(statuses(&other), ["accepted", "accepted"]);
    assert_eq!(app.count("events").await, 3);
}

#[tokio::test]
async fn bad_items_are_rejected_with_reasons_and_good_ones_kept() {
    let app = TestApp::spawn().await;
    let ghost = "01900000-0000-7000-8000-000000000000";
    let ok = |id: &str| json!({"id": id, "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z", "member": {"platform": "telegram", "external_id": "1"}});
    let r = app
        .post(
            "/v1/events",
            json!([
                ok("a"),
                {"id": "b", "type": "bought", "occurred_at": "2026-11-20T00:00:00Z"},
                {"id": "c", "type": "checked_in", "occurred_at": "2026-11-22T03:00:00Z"},
                {"id": "d", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z", "member_id": ghost},
                {"id": "e", "type": "checked_in", "occurred_at": "yesterday"},
                {"id": "f", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z", "colour": "red"},
                {"id": "g", "type": "member_joined", "occurred_at": "2026-11-20T00:00:00Z", "member_id": ghost},
                "not an object",
                ok("h"),
                {"id": "i", "type": "custom.shared_poster", "occurred_at": "2024-01-01T00:00:00Z"}
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        statuses(&r),
        [
            "accepted", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected", "accepted",
            "accepted"
        ]
    );
    let reason = |i: usize| r.body["results"][i]["reason"].as_str().unwrap().to_owned();
    assert!(reason(1).contains("unknown type"));
    assert!(reason(2).contains("future"));
    assert!(reason(3).contains("unknown member_id"));
    assert!(reason(4).contains("occurred_at"));
    assert!(reason(5).contains("colour"));
    assert!(reason(6).contains("needs a member and a group"));
    assert_eq!(app.count("events").await, 3, "late events are stored too");

    for (body, status) in [
        (json!({"id": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (Value::Array(vec![ok("z"); 1001]), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(app.post("/v1/events", body).await.status, status);
    }
    assert_eq!(app.count("events").await, 3);
}

#[tokio::test]
async fn ndjson_batches_are_read_line_by_line() {
    let app = TestApp::spawn().await;
    let body = concat!(
        r#"{"id": "n1", "type": "link_clicked", "occurred_at": "2026-11-20T00:00:00Z"}"#,
        "\n",
        "{broken\n",
        "\n",
        r#"{"id": "n2", "type": "link_clicked", "occurred_at": "2026-11-20T00:00:01Z"}"#,
        "\n",
        r#"{"id": "n3", "type": "link_clicked", "occurred_at": "2026-11-20T00:00:02Z"} trailing"#,
        "\n",
    );
    let r = app.send_raw(Method::POST, "/v1/events", "application/x-ndjson", body.as_bytes().to_vec()).await;
    assert_eq!(statuses(&r), ["accepted", "rejected", "accepted", "rejected"]);
    assert!(r.body["results"][1]["reason"].as_str().unwrap().contains("not valid JSON"));
    assert!(r.body["results"][3]["reason"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn concurrent_redeliveries_of_a_batch_are_stored_once() {
    let app = TestApp::spawn().await;
    let batch: Vec<Value> = (0..50)
        .map(|i| {
            json!({"id": format!("c{i}"), "type": "message_sent", "occurred_at": "2026-11-20T00:00:00Z",
                        "member": {"platform": "telegram", "external_id": format!("u{}", i % 7)},
                        "group": {"platform": "telegram", "external_id": "-100"}})
        })
        .collect();
    let mut handles = Vec::new();
    for _ in 0..6 {
        let req = app.client.post(format!("{}/v1/events", app.base)).bearer_auth(&app.key).json(&batch);
        handles.push(tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() }));
    }
    let mut accepted = 0;
    for h in handles {
        let body = h.await.unwrap();
        accepted += body["accepted"].as_u64().unwrap();
        assert_eq!(body["rejected"], 0, "{body}");
    }
    assert_eq!(accepted, 50);
    assert_eq!(app.count("events").await, 50);
    assert_eq!(app.count("members").await, 7);
    assert_eq!(app.count("member_identities").await, 7);
    assert_eq!(app.count("groups").await, 1);
    // A batch overlapping what is stored keeps its new events, in any position.
    let overlapping: Vec<Value> = [3, 55, 10, 60]
        .iter()
        .map(|i| {
            json!({"id": format!("c{i}"), "type": "message_sent", "occurred_at": "2026-11-20T00:00:00Z",
                   "member": {"platform": "telegram", "external_id": "u1"}})
        })
        .collect();
    let r = app.post("/v1/events", json!(overlapping)).await;
    assert_eq!(statuses(&r), ["duplicate", "accepted", "duplicate", "accepted"]);
    assert_eq!((r.body["accepted"].clone(), r.body["duplicates"].clone()), (json!(2), json!(2)));
    assert_eq!(app.count("events").await, 52);
}

fn membership_events(group: &str) -> Vec<Value> {
    let m = json!({"platform": "telegram", "external_id": "lily"});
    let g = json!({"platform": "telegram", "external_id": group});
    vec![
        json!({"id": format!("{group}-j1"), "type": "member_joined", "occurred_at": "2026-11-01T09:00:00Z", "member": m, "group": g,
               "join_source": "invite_link", "invite_code": "abc"}),
        json!({"id": format!("{group}-j1-dup"), "type": "member_joined", "occurred_at": "2026-11-02T09:00:00Z", "member": m, "group": g}),
        json!({"id": format!("{group}-l1"), "type": "member_left", "occurred_at": "2026-11-05T10:00:00Z", "member": m, "group": g,
               "leave_reason": "left"}),
        json!({"id": format!("{group}-j2"), "type": "member_joined", "occurred_at": "2026-11-07T08:00:00Z", "member": m, "group": g,
               "join_source": "qr_code"}),
    ]
}

async fn stints(app: &TestApp, group_external: &str) -> Vec<Value> {
    let g = app.get(&format!("/v1/groups?platform=telegram&q={group_external}")).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut items =
        app.get(&format!("/v1/groups/{g}/members?include=history")).await.body["items"].as_array().unwrap().clone();
    for i in &mut items {
        for k in ["id", "group_id", "group_name"] {
            i.as_object_mut().unwrap().remove(k);
        }
    }
    items
}

#[tokio::test]
async fn membership_events_in_any_order_end_in_the_same_stints() {
    let app = TestApp::spawn().await;
    for e in membership_events("in-order") {
        app.post("/v1/events", json!([e])).await;
    }
    let mut reversed = membership_events("reversed");
    reversed.reverse();
    for e in &reversed {
        app.post("/v1/events", json!([e])).await;
    }
    // Replays change nothing.
    app.post("/v1/events", Value::Array(reversed)).await;
    let a = stints(&app, "in-order").await;
    assert_eq!(a, stints(&app, "reversed").await);
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[1]["joined_at"].as_str(), a[1]["left_at"].as_str()),
        (Some("2026-11-01T09:00:00Z"), Some("2026-11-05T10:00:00Z"))
    );
    assert_eq!(
        (a[1]["source"].as_str(), a[1]["invite_code"].as_str(), a[1]["leave_reason"].as_str()),
        (Some("invite_link"), Some("abc"), Some("left"))
    );
    assert_eq!((a[0]["source"].as_str(), a[0]["left_at"].clone()), (Some("qr_code"), Value::Null));
}

#[tokio::test]
async fn events_are_listed_by_filters_with_stable_pages_and_a_member_timeline() {
    let app = TestApp::spawn().await;
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("t{i}"), "type": if i % 2 == 0 { "message_sent" } else { "checked_in" },
                        "occurred_at": format!("2026-11-1{i}T00:00:00Z"), "member": {"platform": "slack", "external_id": "U1"}}))
        .collect();
    app.post("/v1/events", Value::Array(batch)).await;
    let member =
        app.get("/v1/members?platform=slack&external_id=U1").await.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(events_of(&app, "&type=checked_in").await.len(), 2);
    assert_eq!(events_of(&app, "&from=2026-11-12T00:00:00Z&to=2026-11-14T00:00:00Z").await.len(), 2);
    let p1 = app.get(&format!("/v1/members/{member}/timeline?limit=3")).await;
    let times: Vec<&str> =
        p1.body["items"].as_array().unwrap().iter().map(|e| e["occurred_at"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-11-14T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-12T00:00:00Z"]);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app.get(&format!("/v1/members/{member}/timeline?limit=3&cursor={cursor}")).await;
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 2);
    assert!(p2.body["next_cursor"].is_null());
    assert_eq!(app.get("/v1/events?cursor=bogus").await.field(), "cursor");
    assert_eq!(app.get("/v1/events?from=yesterday").await.field(), "from");
    assert_eq!(app.get(&format!("/v1/members/{member}")).await.body["first_seen_at"], "2026-11-10T00:00:00Z");
}

#[tokio::test]
async fn workspaces_keep_their_own_events_members_and_groups() {
    let app = TestApp::spawn().await;
    let other = app.other_workspace("other").await;
    let e = json!([{"id": "same", "type": "message_sent", "occurred_at": "2026-11-20T00:00:00Z",
                    "member": {"platform": "telegram", "external_id": "42"}, "group": {"platform": "telegram", "external_id": "-1"}}]);
    assert_eq!(app.post("/v1/events", e.clone()).await.body["accepted"], 1);
    let theirs = app.send(Method::POST, "/v1/events", Some(&other), Some(e)).await;
    assert_eq!(theirs.body["accepted"], 1, "the same id in another workspace is another event");
    assert_eq!(app.count("members").await, 2);
    let ours = events_of(&app, "").await;
    assert_eq!(ours.len(), 1);
    let member = ours[0]["member_id"].as_str().unwrap();
    assert_eq!(
        app.send(Method::GET, &format!("/v1/members/{member}/timeline"), Some(&other), None).await.status,
        StatusCode::NOT_FOUND
    );
    let group = ours[0]["group_id"].as_str().unwrap();
    let r = app
        .send(Method::POST, "/v1/events", Some(&other),
            Some(json!([{"id": "x", "type": "message_sent", "occurred_at": "2026-11-20T00:00:00Z", "group_id": group, "member_id": member}])))
        .await;
    assert!(r.body["results"][0]["reason"].as_str().unwrap().contains("unknown"), "{:?}", r.body);
    assert_eq!(
        app.send(Method::GET, &format!("/v1/events?member_id={member}"), Some(&other), None).await.body["items"],
        json!([])
    );
}

#[tokio::test]
async fn large_ndjson_and_csv_imports_are_streamed_counted_and_idempotent() {
    let app = TestApp::spawn().await;
    let mut ndjson = String::new();
    for i in 0..2500 {
        let line = if i == 1234 {
            "{not json".to_owned()
        } else {
            json!({"id": format!("imp-{i}"), "type": "message_sent", "occurred_at": "2026-10-01T00:00:00Z",
                   "member": {"platform": "telegram", "external_id": format!("u{}", i % 100)},
                   "group": {"platform": "telegram", "external_id": "-100"}, "properties": {"pad": "x".repeat(400)}})
            .to_string()
        };
        ndjson.push_str(&line);
        ndjson.push('\n');
    }
    assert!(ndjson.len() > 1024 * 1024, "bigger than the normal body limit");
    let r = app.send_raw(Method::POST, "/v1/imports/events", "application/x-ndjson", ndjson.clone().into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["lines"].as_u64(), r.body["accepted"].as_u64(), r.body["rejected"].as_u64()),
        (Some(2500), Some(2499), Some(1))
    );
    assert_eq!(r.body["errors"][0]["line"], 1235);
    let again = app.send_raw(Method::POST, "/v1/imports/events", "application/x-ndjson", ndjson.into_bytes()).await;
    assert_eq!((again.body["accepted"].as_u64(), again.body["duplicates"].as_u64()), (Some(0), Some(2499)));
    assert_eq!(app.count("events").await, 2499);
    assert_eq!(app.get("/v1/events?limit=1").await.body["items"][0]["source"], "import");

    let csv = "id,type,occurred_at,member_platform,member_external_id,order_id,amount,currency,properties\r\n\
               c1,order_paid,2026-10-02T00:00:00Z,generic,shop-1,A9,12900,CNY,\"{\"\"sku\"\":\"\"L\"\"}\"\r\n\
               c2,order_paid,2026-10-02T00:00:00Z,generic,shop-1,A9,12900,CNY,\r\n\
               c3,checked_in,not-a-time,generic,shop-1,,,,\r\n";
    let r = app.send_raw(Method::POST, "/v1/imports/events", "text/csv", csv.as_bytes().to_vec()).await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64(), r.body["rejected"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["errors"][0]["line"], 4);
    let paid = app.get("/v1/events?type=order_paid").await;
    assert_eq!(paid.body["items"][0]["properties"]["sku"], "L");
    assert_eq!(
        app.send_raw(Method::POST, "/v1/imports/events", "application/json", b"[]".to_vec()).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[tokio::test]
async fn a_group_created_in_a_rolled_back_transaction_is_not_remembered() {
    let app = TestApp::spawn().await;
    let ws = shequn::ids::WorkspaceId(app.workspace_id.parse().unwrap());
    let refs = [(shequn::platform::Platform::Telegram, "-4242".to_owned(), None)];
    let mut tx = app.pool.begin().await.unwrap();
    let first = shequn::groups::repo::ensure_by_external(
        &mut tx,
        ws,
        &refs,
        &app.state.ingestion.ids.groups,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let second = shequn::groups::repo::ensure_by_external(
        &mut tx,
        ws,
        &refs,
        &app.state.ingestion.ids.groups,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let key = (shequn::platform::Platform::Telegram, "-4242".to_owned());
    assert_ne!(first[&key], second[&key]);
    // Now committed and looked up by a transaction that wrote nothing: the same id every time.
    let mut conn = app.pool.acquire().await.unwrap();
    let third = shequn::groups::repo::ensure_by_external(
        &mut conn,
        ws,
        &refs,
        &app.state.ingestion.ids.groups,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(third[&key], second[&key]);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM groups WHERE id = $1")
        .bind(second[&key])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn concurrent_batches_creating_the_same_groups_in_different_orders_do_not_deadlock() {
    let app = TestApp::spawn().await;
    let mut handles = Vec::new();
    for k in 0..8usize {
        // Each batch names the same 500 new groups and members, rotated differently.
        let batch: Vec<Value> = (0..1000usize)
            .map(|i| {
                let j = (i + k * 37) % 500;
                json!({"id": format!("b{k}-{i}"), "type": "message_sent", "occurred_at": "2026-11-20T00:00:00Z",
                       "member": {"platform": "telegram", "external_id": format!("m{j}")},
                       "group": {"platform": "telegram", "external_id": format!("-{j}")}})
            })
            .collect();
        let req = app.client.post(format!("{}/v1/events", app.base)).bearer_auth(&app.key).json(&batch);
        handles.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    for h in handles {
        let res = h.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["accepted"], 1000);
    }
    assert_eq!(app.count("groups").await, 500);
    assert_eq!(app.count("members").await, 500);
    assert_eq!(app.count("events").await, 8000);
}

#[tokio::test]
async fn members_named_as_bots_are_created_as_bots_and_groups_cannot_be_bots() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/events",
            json!([
                {"id": "b1", "type": "message_sent", "occurred_at": "2026-11-20T01:00:00Z",
                 "member": {"platform": "telegram", "external_id": "900", "name": "PointsBot", "is_bot": true},
                 "group": {"platform": "telegram", "external_id": "-5"}},
                {"id": "b2", "type": "message_sent", "occurred_at": "2026-11-20T01:00:00Z",
                 "member": {"platform": "telegram", "external_id": "901"},
                 "group": {"platform": "telegram", "external_id": "-5", "is_bot": true}}
            ]),
        )
        .await;
    assert_eq!(statuses(&r), ["accepted", "rejected"]);
    assert!(r.body["results"][1]["reason"].as_str().unwrap().contains("group.is_bot"), "{}", r.body);
    let bots = app.get("/v1/members?is_bot=true").await;
    assert_eq!(bots.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(bots.body["items"][0]["display_name"], "PointsBot");
}

#[tokio::test]
async fn a_chat_registered_by_a_transaction_that_rolls_back_is_not_remembered() {
    use shequn::groups::repo::ensure_by_external;
    use shequn::ids::WorkspaceId;
    use shequn::platform::Platform;
    let app = TestApp::spawn().await;
    let ws = WorkspaceId(app.workspace_id.parse().unwrap());
    let refs = vec![(Platform::Telegram, "-100777".to_owned(), Some("chat".to_owned()))];
    let key = (Platform::Telegram, "-100777".to_owned());
    // As the inbox processor does: the chat is registered, then looked up
    // again in the same transaction (a later request of the batch), which
    // then rolls back.
    let mut tx = app.pool.begin().await.unwrap();
    let created = ensure_by_external(&mut tx, ws, &refs, &app.state.ingestion.ids.groups, app.state.clock.now())
        .await
        .unwrap()[&key];
    assert_eq!(
        ensure_by_external(&mut tx, ws, &refs, &app.state.ingestion.ids.groups, app.state.clock.now()).await.unwrap()
            [&key],
        created
    );
    tx.rollback().await.unwrap();
    // The rolled-back id is not handed out again: the chat is registered anew.
    let mut tx = app.pool.begin().await.unwrap();
    let again = ensure_by_external(&mut tx, ws, &refs, &app.state.ingestion.ids.groups, app.state.clock.now())
        .await
        .unwrap()[&key];
    tx.commit().await.unwrap();
    assert_ne!(again, created);
    let stored: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM groups WHERE external_id = '-100777'").fetch_all(&app.pool).await.unwrap();
    assert_eq!(stored, vec![again]);
}

/// The member an accepted single-event batch was stored for.
async fn stored_member(app: &TestApp, r: &Resp) -> uuid::Uuid {
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    let event: uuid::Uuid = r.body["results"][0]["event_id"].as_str().unwrap().parse().unwrap();
    sqlx::query_scalar("SELECT member_id FROM events WHERE id = $1").bind(event).fetch_one(&app.pool).await.unwrap()
}

/// Identities are resolved from a per-instance cache; erasing a member or
/// moving an identity to another member must take effect at once.
#[tokio::test]
async fn an_erased_or_moved_identity_is_never_resolved_from_the_cache() {
    let app = TestApp::spawn().await;
    let ev = |id: &str| {
        json!([{"id": id, "type": "message_sent", "occurred_at": "2026-11-20T02:00:00Z",
                "member": {"platform": "telegram", "external_id": "42"}}])
    };
    // Created by the first batch, cached by the second (now committed).
    let m1 = stored_member(&app, &app.post("/v1/events", ev("e1")).await).await;
    assert_eq!(stored_member(&app, &app.post("/v1/events", ev("e2")).await).await, m1);
    assert_eq!(stored_member(&app, &app.post("/v1/events", ev("e3")).await).await, m1);
    // Erased: the platform user comes back as a new member.
    assert_eq!(app.delete(&format!("/v1/members/{m1}")).await.status, StatusCode::NO_CONTENT);
    let m2 = stored_member(&app, &app.post("/v1/events", ev("e4")).await).await;
    assert_ne!(m2, m1);
    assert_eq!(stored_member(&app, &app.post("/v1/events", ev("e5")).await).await, m2);
    // Moved to another member: the identity is taken from one and given to the other.
    assert_eq!(app.patch(&format!("/v1/members/{m2}"), json!({"identities": []})).await.status, StatusCode::OK);
    let m3 = app.post("/v1/members", json!({"identities": [{"platform": "telegram", "external_id": "42"}]})).await.id();
    assert_eq!(stored_member(&app, &app.post("/v1/events", ev("e6")).await).await.to_string(), m3);
    // Another workspace's user "42" is its own member, whatever this one cached.
    let other = app.other_workspace("other").await;
    let theirs = stored_member(&app, &app.send(Method::POST, "/v1/events", Some(&other), Some(ev("e7"))).await).await;
    assert!(![m1, m2].contains(&theirs) && theirs.to_string() != m3);
}
