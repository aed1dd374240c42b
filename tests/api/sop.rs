//! Content library, SOP plans, the scheduler and deliveries, against a
//! local fake chat platform. Time is driven with the manual clock; the
//! scheduler and workers are run by hand (`run_scheduler_once`, `drain_deliveries`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus, Uri};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// A request the fake platform received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A scripted answer: status, headers, JSON body.
pub type Answer = (u16, Vec<(&'static str, String)>, Value);

/// A fake chat platform: records every request, answers from a script
/// (then with Telegram's `ok`).
#[derive(Clone, Default)]
pub struct Fake {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    pub base: String,
}

async fn fake_handler(
    State(f): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.seen.lock().unwrap().push(Seen { path: uri.to_string(), headers, body });
    let (status, hdrs, answer) = f.script.lock().unwrap().pop_front().unwrap_or((
        200,
        vec![],
        // Success as every platform spells it.
        json!({"ok": true, "result": {"message_id": 77}, "ts": "1503435956.000247", "code": 0, "errcode": 0}),
    ));
    // Status 0: hang longer than any client timeout of the tests.
    if status == 0 {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    let status = if status == 0 { 200 } else { status };
    let mut res = (AxStatus::from_u16(status).unwrap(), axum::Json(answer)).into_response();
    for (k, v) in hdrs {
        res.headers_mut().insert(k, v.parse().unwrap());
    }
    res
}

impl Fake {
    pub async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake { base: format!("http://{}", listener.local_addr().unwrap()), ..Default::default() };
        let app = axum::Router::new().fallback(fake_handler).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }
    pub fn then(&self, status: u16, headers: Vec<(&'static str, String)>, body: Value) {
        self.script.lock().unwrap().push_back((status, headers, body));
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub async fn scheduler(app: &TestApp) -> usize {
    shequn::jobs::run_scheduler_once(&app.state).await.expect("scheduler pass")
}

pub async fn send(app: &TestApp) -> usize {
    let http = shequn::deliveries::worker::http_client(&app.state.settings.delivery).unwrap();
    shequn::jobs::drain_deliveries(&app.state, &http).await.expect("delivery pass")
}

pub async fn telegram(app: &TestApp, fake: &Fake) -> String {
    let r = app
        .post(
            "/v1/connections",
            json!({"platform": "telegram", "name": "tg", "credentials": {"bot_token": "123:SECRET", "secret_token": "s1"},
                   "settings": {"api_base_url": fake.base}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

pub async fn group(app: &TestApp, ext: &str, tz: &str) -> String {
    let r = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": ext, "name": format!("群{ext}"), "timezone": tz}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// `n` Telegram groups in Asia/Shanghai with chat ids `{prefix}0`, `{prefix}1`, …; their ids.
pub async fn groups(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(group(app, &format!("{prefix}{i}"), "Asia/Shanghai").await);
    }
    ids
}

pub async fn content(app: &TestApp, text: &str) -> String {
    let r = app.post("/v1/contents", json!({"name": text, "kind": "text", "text": text})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// Creates a one-step plan (named after its content) for `target`, asserting 201; its id.
pub async fn plan(app: &TestApp, target: Value, content: &str, timing: Value) -> String {
    let body = json!({"name": format!("p-{content}"), "target": target,
                      "steps": [{"content_id": content, "timing": timing}]});
    let r = app.post("/v1/sop-plans", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

pub async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/deliveries?limit=200{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn contents_refuse_templates_that_cannot_render_and_preview_renders() {
    let app = TestApp::spawn().await;
    let bad = app.post("/v1/contents", json!({"name": "x", "kind": "text", "text": "hi {{member.phone}}"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((bad.field(), bad.body["error"]["details"][0]["code"].as_str()), ("text", Some("invalid_template")));
    let unclosed = app.post("/v1/contents", json!({"name": "x", "kind": "text", "text": "hi {{group.name"})).await;
    assert_eq!(unclosed.field(), "text");
    let link = app.post("/v1/contents", json!({"name": "l", "kind": "link", "title": "t"})).await;
    assert_eq!((link.status, link.field()), (StatusCode::UNPROCESSABLE_ENTITY, "url"));
    let foreign = app.post("/v1/contents", json!({"name": "l", "kind": "text", "text": "a", "app_id": "wx1"})).await;
    assert_eq!(foreign.field(), "app_id");

    let g = group(&app, "-100", "Asia/Shanghai").await;
    let id = content(&app, "{{group.name}} 的家人们早上好 {{date}} {{member.display_name|亲}}").await;
    let got = app.get(&format!("/v1/contents/{id}")).await;
    assert_eq!(got.body["variables"], json!(["date", "group.name", "member.display_name"]));
    let missing = app.get(&format!("/v1/contents/{id}/preview")).await;
    // The content's stored variables need a group: a conflict with what is stored.
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("record_required"))
    );
    let p = app.get(&format!("/v1/contents/{id}/preview?group_id={g}&at=2026-11-23T09:00")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["message"]["text"], "群-100 的家人们早上好 2026-11-23 亲");

    let other = app.other_workspace("other").await;
    let r = app.send(reqwest::Method::GET, &format!("/v1/contents/{id}"), Some(&other), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn plans_validate_targets_timings_and_variables_naming_the_field() {
    let app = TestApp::spawn().await;
    let g = group(&app, "-1", "Asia/Shanghai").await;
    let member_text = content(&app, "welcome {{member.display_name}}").await;
    let campaign_text = content(&app, "go {{campaign.link}}").await;
    let cases = [
        (json!({"group_ids": [g]}), json!({"kind": "daily", "at": "25:00"}), &member_text, "steps[0].timing.at"),
        (json!({"group_ids": [g]}), json!({"kind": "daily", "at": "09:00"}), &member_text, "steps[0].content_id"),
        (json!({"group_ids": [g]}), json!({"kind": "daily", "at": "09:00"}), &campaign_text, "steps[0].content_id"),
        (json!({"tier": "gold"}), json!({"kind": "daily", "at": "09:00"}), &campaign_text, "target.tier"),
        (json!({"tier": "vip", "group_ids": [g]}), json!({"kind": "daily", "at": "09:00"}), &campaign_text, "target"),
    ];
    for (target, timing, content, field) in cases {
        let r = app
            .post(
                "/v1/sop-plans",
                json!({"name": "p", "target": target, "steps": [{"content_id": content, "timing": timing}]}),
            )
            .await;
        if field == "steps[0].content_id" {
            // The stored content's variables do not fit the step: 409, naming the step.
            assert_eq!(r.status, StatusCode::CONFLICT, "{field}: {}", r.body);
            assert!(r.body["error"]["message"].as_str().unwrap().starts_with(field), "{}", r.body);
            continue;
        }
        let want = if field == "target.tier" { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!(r.status, want, "{field}: {}", r.body);
        assert_eq!(r.field(), field, "{}", r.body);
    }
    assert_eq!(app.count("sop_plans").await, 0);
    let ok = app
        .post(
            "/v1/sop-plans",
            json!({"name": "welcome", "target": {"group_ids": [g]},
                   "steps": [{"content_id": member_text, "timing": {"kind": "after_join", "days": 1, "at": "10:00"}}]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let used = app.delete(&format!("/v1/contents/{member_text}")).await;
    assert_eq!((used.status, used.code()), (StatusCode::CONFLICT, "content_in_use"));
}

#[tokio::test]
async fn a_daily_plan_sends_exactly_what_the_preview_showed() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let sh = group(&app, "-1001", "Asia/Shanghai").await;
    let ny = group(&app, "-1002", "America/New_York").await;
    let c = content(&app, "{{group.name}} 早上好 {{date}}").await;
    // The clock stands at 2026-11-20T02:00Z.
    let plan = app
        .post(
            "/v1/sop-plans",
            json!({"name": "daily", "target": {"group_ids": [sh, ny]}, "jitter_seconds": 120,
                   "steps": [{"content_id": c, "timing": {"kind": "daily", "at": "09:00"}}]}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
    let pid = plan.id();
    let preview = app.get(&format!("/v1/sop-plans/{pid}/preview?from=2026-11-21&days=2")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let items = preview.body["items"].as_array().unwrap().clone();
    let mut want: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["group_id"].as_str().unwrap().into(),
                i["local_time"].as_str().unwrap().into(),
                i["fire_at"].as_str().unwrap().into(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(want.len(), 4, "{items:?}");
    assert!(want.iter().all(|(_, local, _)| local.ends_with("T09:00")));
    // Shanghai 09:00 is 01:00Z; New York 09:00 (EST) is 14:00Z.
    let slots: Vec<&str> = items.iter().map(|i| i["slot_at"].as_str().unwrap()).collect();
    assert!(slots.contains(&"2026-11-21T01:00:00Z") && slots.contains(&"2026-11-21T14:00:00Z"), "{slots:?}");

    // Drive the clock through the two days in 10-minute steps.
    let mut t = Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap();
    while t < Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap() {
        app.clock.set(t);
        scheduler(&app).await;
        send(&app).await;
        t += Duration::minutes(10);
    }
    let mut got: Vec<(String, String, String)> = deliveries(&app, &format!("&plan_id={pid}"))
        .await
        .iter()
        .filter(|d| d["local_time"].as_str().unwrap() >= "2026-11-21")
        .map(|d| {
            assert_eq!(d["state"], "sent", "{d}");
            assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
            assert!(d["lateness_ms"].as_i64().unwrap() < 600_000);
            (
                d["group_id"].as_str().unwrap().into(),
                d["local_time"].as_str().unwrap().into(),
                d["fire_at"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
    let seen = fake.seen();
    assert!(seen.iter().all(|s| s.path == "/bot123:SECRET/sendMessage"), "{:?}", seen[0].path);
    assert!(
        seen.iter().any(|s| s.body == json!({"chat_id": "-1001", "text": "群-1001 早上好 2026-11-21"})),
        "{:?}",
        seen
    );
    // The bot token never leaves through the API.
    let listed = app.get(&format!("/v1/deliveries?plan_id={pid}")).await;
    assert!(!listed.body.to_string().contains("SECRET"));
}

#[tokio::test]
async fn concurrent_schedulers_create_exactly_one_delivery_per_slot() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let groups = groups(&app, "-", 40).await;
    let c = content(&app, "hello").await;
    plan(&app, json!({"group_ids": groups}), &c, json!({"kind": "cron", "expr": "*/5 * * * *"})).await;
    app.clock.set(utc("2026-11-20T02:14:00Z"));
    let mut tasks = vec![];
    for _ in 0..6 {
        let state = app.state.clone();
        tasks.push(tokio::spawn(async move { shequn::jobs::run_scheduler_once(&state).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The plan was created at 02:00: slots 02:00, 02:05, 02:10 exist exactly once each.
    let per_slot: Vec<(i64, i64)> =
        sqlx::query_as("SELECT count(*), count(DISTINCT (group_id, slot_at)) FROM deliveries")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(per_slot, vec![(120, 120)]);
    // One Telegram bot sends at most 30 messages a second: the rest wait, uncounted.
    let mut per_second = vec![];
    for _ in 0..6 {
        let before = fake.seen().len();
        send(&app).await;
        per_second.push(fake.seen().len() - before);
        app.clock.advance(Duration::seconds(1));
    }
    assert_eq!(per_second, [30, 30, 30, 30, 0, 0]);
    let ds = deliveries(&app, "&state=sent").await;
    assert_eq!(ds.len(), 120);
    assert!(ds.iter().all(|d| d["attempts"].as_array().unwrap().len() == 1 && d["attempt_count"] == 1));
}

#[tokio::test]
async fn retries_back_off_honour_retry_after_and_give_up_on_refusals() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-5", "Asia/Shanghai").await;
    let c = content(&app, "hi").await;
    plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "once", "at": "2026-11-20T10:05"})).await;
    fake.then(503, vec![], json!({"ok": false}));
    fake.then(429, vec![("retry-after", "3600".into())], json!({"ok": false}));
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    assert_eq!(send(&app).await, 1);
    let d = &deliveries(&app, "").await[0];
    assert_eq!(d["state"], "failed");
    let first_retry = d["next_attempt_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let wait = first_retry - utc("2026-11-20T02:05:00Z");
    assert!(wait >= Duration::seconds(10) && wait <= Duration::seconds(15), "{wait}");
    assert_eq!(send(&app).await, 0, "not due yet");
    app.clock.set(first_retry);
    send(&app).await;
    let d = &deliveries(&app, "").await[0];
    let second = d["next_attempt_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(second - first_retry >= Duration::seconds(3600), "Retry-After honoured: {}", second - first_retry);
    app.clock.set(second);
    send(&app).await;
    let d = &deliveries(&app, "").await[0];
    assert_eq!(d["state"], "sent", "{d}");
    let outcomes: Vec<&str> =
        d["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retryable", "retryable", "accepted"]);
    assert_eq!(d["attempts"][1]["http_status"], 429);

    // A refusal (400) is not retried; the operator can retry a dead delivery.
    let c2 = content(&app, "second").await;
    app.post(
        "/v1/sop-plans",
        json!({"name": "p2", "target": {"group_ids": [g]},
        "steps": [{"content_id": c2, "timing": {"kind": "once", "at": "2026-11-21T10:05"}}]}),
    )
    .await;
    fake.then(400, vec![], json!({"ok": false, "description": "Bad Request: chat not found"}));
    app.clock.set(utc("2026-11-21T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let dead = deliveries(&app, "&state=dead").await;
    assert_eq!(dead.len(), 1);
    let id = dead[0]["id"].as_str().unwrap();
    let retried = app.post(&format!("/v1/deliveries/{id}/retry"), json!({})).await;
    assert_eq!((retried.status, retried.body["state"].as_str()), (StatusCode::OK, Some("pending")));
    let again = app.post(&format!("/v1/deliveries/{id}/retry"), json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "invalid_state"));
    send(&app).await;
    assert_eq!(app.get(&format!("/v1/deliveries/{id}")).await.body["state"], "sent");
}

#[tokio::test]
async fn slots_past_the_misfire_grace_are_recorded_as_missed_not_sent() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-6", "Asia/Shanghai").await;
    let c = content(&app, "hi").await;
    plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "daily", "at": "10:00"})).await;
    // Down from before 10:00 on the 20th until 10:10 on the 22nd (Shanghai).
    app.clock.set(utc("2026-11-22T02:10:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let mut ds = deliveries(&app, "").await;
    ds.sort_by_key(|d| d["slot_at"].as_str().unwrap().to_owned());
    let states: Vec<(&str, &str)> =
        ds.iter().map(|d| (d["local_time"].as_str().unwrap(), d["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("2026-11-20T10:00", "missed"), ("2026-11-21T10:00", "missed"), ("2026-11-22T10:00", "sent")]);
    assert!(ds[0]["last_error"].as_str().unwrap().contains("misfire grace"));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn pausing_skips_slots_and_resuming_sends_future_ones_only() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-7", "Asia/Shanghai").await;
    let c = content(&app, "hi").await;
    let pid = plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "daily", "at": "10:00"})).await;
    let paused = app.post(&format!("/v1/sop-plans/{pid}/status"), json!({"status": "paused"})).await;
    assert_eq!(paused.body["status"], "paused");
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    assert_eq!(app.count("deliveries").await, 0);
    app.clock.set(utc("2026-11-20T02:20:00Z"));
    app.post(&format!("/v1/sop-plans/{pid}/status"), json!({"status": "active"})).await;
    scheduler(&app).await;
    assert_eq!(app.count("deliveries").await, 0, "the slot passed while paused is not sent late");
    app.clock.set(utc("2026-11-21T02:00:00Z"));
    scheduler(&app).await;
    let ds = deliveries(&app, "").await;
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["local_time"], "2026-11-21T10:00");
    let archived = app.post(&format!("/v1/sop-plans/{pid}/status"), json!({"status": "archived"})).await;
    assert_eq!(archived.body["status"], "archived");
    let back = app.post(&format!("/v1/sop-plans/{pid}/status"), json!({"status": "active"})).await;
    assert_eq!((back.status, back.code()), (StatusCode::CONFLICT, "plan_archived"));
    let del = app.delete(&format!("/v1/sop-plans/{pid}")).await;
    assert_eq!((del.status, del.code()), (StatusCode::CONFLICT, "plan_has_deliveries"));
}

#[tokio::test]
async fn an_after_join_step_welcomes_each_new_member_by_name_a_calendar_day_later() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-8", "Asia/Shanghai").await;
    let c = content(&app, "欢迎 {{member.display_name}} 加入 {{group.name}}").await;
    app.post(
        "/v1/sop-plans",
        json!({"name": "welcome", "target": {"group_ids": [g]}, "quiet_hours": {"start": "22:00", "end": "08:00"},
        "steps": [{"content_id": c, "timing": {"kind": "after_join", "days": 1}}]}),
    )
    .await;
    // Lily joins at 23:30 local on the 20th: one day later is 23:30, inside quiet hours -> 08:00 on the 22nd.
    let lily = app.post("/v1/members", json!({"display_name": "Lily"})).await.id();
    app.clock.set(utc("2026-11-20T15:31:00Z"));
    let r = app
        .post(&format!("/v1/groups/{g}/members"), json!({"member_id": lily, "joined_at": "2026-11-20T15:30:00Z"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    scheduler(&app).await;
    assert_eq!(app.count("deliveries").await, 0);
    let row: (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT next_slot_at, next_fire_at FROM sop_schedules WHERE member_id <> '00000000-0000-0000-0000-000000000000'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(row, (utc("2026-11-21T15:30:00Z"), utc("2026-11-22T00:00:00Z")));
    app.clock.set(utc("2026-11-22T00:00:30Z"));
    scheduler(&app).await;
    send(&app).await;
    let ds = deliveries(&app, "").await;
    assert_eq!(ds.len(), 1);
    assert_eq!((ds[0]["state"].as_str(), ds[0]["member_id"].as_str()), (Some("sent"), Some(lily.as_str())));
    assert_eq!(fake.seen()[0].body["text"], "欢迎 Lily 加入 群-8");
}

#[tokio::test]
async fn deliveries_and_plans_are_invisible_to_other_workspaces() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-9", "Asia/Shanghai").await;
    let c = content(&app, "hi").await;
    let pid = plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "once", "at": "2026-11-20T10:05"})).await;
    app.clock.set(utc("2026-11-20T02:06:00Z"));
    scheduler(&app).await;
    let did = deliveries(&app, "").await[0]["id"].as_str().unwrap().to_owned();
    let other = app.other_workspace("other").await;
    for path in
        [format!("/v1/sop-plans/{pid}"), format!("/v1/deliveries/{did}"), format!("/v1/sop-plans/{pid}/preview")]
    {
        let r = app.send(reqwest::Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app.send(reqwest::Method::GET, "/v1/deliveries", Some(&other), None).await;
    assert_eq!(r.body["items"], json!([]));
    let r =
        app.send(reqwest::Method::POST, &format!("/v1/deliveries/{did}/retry"), Some(&other), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Another workspace cannot target this one's group or content.
    let r = app
        .send(reqwest::Method::POST, "/v1/sop-plans", Some(&other),
            Some(json!({"name": "x", "target": {"group_ids": [g]}, "steps": [{"content_id": c, "timing": {"kind": "daily", "at": "09:00"}}]})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let fields: Vec<&str> =
        r.body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["target.group_ids[0]", "steps[0].content_id"]);
}

#[tokio::test]
async fn wecom_groups_are_sent_through_their_robot_and_groups_without_a_route_are_dead_with_the_reason() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let with = app.post("/v1/groups", json!({"platform": "wecom", "external_id": "wrA", "name": "A"})).await.id();
    let without = app.post("/v1/groups", json!({"platform": "wecom", "external_id": "wrB", "name": "B"})).await.id();
    let r = app
        .put(
            &format!("/v1/groups/{with}/robot"),
            json!({"kind": "wecom_robot", "webhook_url": format!("{}/cgi-bin/webhook/send?key=ROBOTKEY", fake.base)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.to_string().contains("ROBOTKEY"));
    let c = content(&app, "hi {{group.name}}").await;
    plan(&app, json!({"group_ids": [with, without]}), &c, json!({"kind": "once", "at": "2026-11-20T10:05"})).await;
    fake.then(200, vec![], json!({"errcode": 0, "errmsg": "ok"}));
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let sent = deliveries(&app, &format!("&group_id={with}")).await;
    assert_eq!((sent[0]["state"].as_str(), sent[0]["channel"].as_str()), (Some("sent"), Some("wecom_robot")));
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/cgi-bin/webhook/send?key=ROBOTKEY");
    assert_eq!(seen[0].body, json!({"msgtype": "text", "text": {"content": "hi A"}}));
    let dead = deliveries(&app, &format!("&group_id={without}")).await;
    assert_eq!(dead[0]["state"], "dead");
    assert!(dead[0]["last_error"].as_str().unwrap().contains("robot"), "{}", dead[0]);
}
