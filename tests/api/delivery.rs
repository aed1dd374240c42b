//! Outbound channels against the fake platform: WeCom mass sends awaiting
//! confirmation (with reminders), signed generic webhooks, signed Feishu
//! bots, Slack, timeouts, rate limits, daily caps and the recovery of abandoned sends.

use chrono::Duration;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{test_settings, TestApp};
use crate::sop::{content, deliveries, group, groups, plan, scheduler, send, telegram, utc, Fake};

async fn once_plan(app: &TestApp, groups: &[&str], text: &str, at: &str) -> String {
    let c = content(app, text).await;
    plan(app, json!({"group_ids": groups}), &c, json!({"kind": "once", "at": at})).await
}

#[tokio::test]
async fn a_wecom_mass_send_awaits_the_owners_confirmation_with_reminders() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let conn = app
        .post("/v1/connections", json!({"platform": "wecom", "name": "corp",
            "credentials": {"corp_id": "ww1", "token": "tok", "encoding_aes_key": "a".repeat(43), "secret": "CONTACTSECRET"},
            "settings": {"api_base_url": fake.base}}))
        .await;
    assert_eq!(conn.status, StatusCode::CREATED, "{}", conn.body);
    let staff = app
        .post(
            "/v1/staff",
            json!({"name": "Zhang", "persona": "owner",
        "identities": [{"platform": "wecom", "external_id": "zhangsan"}]}),
        )
        .await
        .id();
    let g = app
        .post(
            "/v1/groups",
            json!({"platform": "wecom", "external_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        "name": "宝妈群", "owner_staff_id": staff}),
        )
        .await
        .id();
    once_plan(&app, &[&g], "{{group.name}} 10点福利", "2026-11-20T10:05").await;
    fake.then(200, vec![], json!({"errcode": 0, "access_token": "ACCESS", "expires_in": 7200}));
    fake.then(200, vec![], json!({"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": "msgGCAAAXtWyuja"}));
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let d = &deliveries(&app, "").await[0];
    assert_eq!((d["state"].as_str(), d["channel"].as_str()), (Some("awaiting_confirmation"), Some("wecom_mass_send")));
    assert_eq!(d["platform_message_id"], "msgGCAAAXtWyuja");
    let seen = fake.seen();
    assert!(seen[0].path.starts_with("/cgi-bin/gettoken?corpid=ww1&corpsecret="), "{}", seen[0].path);
    assert_eq!(seen[1].path, "/cgi-bin/externalcontact/add_msg_template?access_token=ACCESS");
    assert_eq!(
        seen[1].body,
        json!({"chat_type": "group", "sender": "zhangsan", "chat_id_list": ["wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"],
               "text": {"content": "宝妈群 10点福利"}})
    );
    // Two hours later the owner is reminded (the token is reused).
    let http = shequn::deliveries::worker::http_client(&app.state.settings.delivery).unwrap();
    assert_eq!(shequn::deliveries::worker::send_reminders(&app.state.sending(), &http).await.unwrap(), 0);
    app.clock.advance(Duration::hours(2));
    fake.then(200, vec![], json!({"errcode": 0, "task_list": [{"userid": "zhangsan", "status": 0}]}));
    fake.then(200, vec![], json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(shequn::deliveries::worker::send_reminders(&app.state.sending(), &http).await.unwrap(), 1);
    let seen = fake.seen();
    assert_eq!(seen[2].path, "/cgi-bin/externalcontact/get_groupmsg_task?access_token=ACCESS");
    assert_eq!(seen[3].path, "/cgi-bin/externalcontact/remind_groupmsg_send?access_token=ACCESS");
    assert_eq!(seen[3].body, json!({"msgid": "msgGCAAAXtWyuja"}));
    let id = d["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/deliveries/{id}")).await.body["reminders"], 1);
    let ok = app.post(&format!("/v1/deliveries/{id}/confirm"), json!({})).await;
    assert_eq!((ok.status, ok.body["state"].as_str()), (StatusCode::OK, Some("confirmed")));
    assert!(ok.body["confirmed_at"].is_string());
    let again = app.post(&format!("/v1/deliveries/{id}/confirm"), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(!app.get(&format!("/v1/deliveries/{id}")).await.body.to_string().contains("CONTACTSECRET"));

    // Another task the owner sends from their client: WeCom reports it sent at the next follow-up.
    once_plan(&app, &[&g], "second", "2026-11-21T10:05").await;
    fake.then(200, vec![], json!({"errcode": 0, "msgid": "msg2"}));
    app.clock.set(utc("2026-11-21T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    app.clock.advance(Duration::hours(2));
    fake.then(
        200,
        vec![],
        json!({"errcode": 0, "task_list": [{"userid": "zhangsan", "status": 1, "send_time": 1700000000}]}),
    );
    shequn::deliveries::worker::send_reminders(&app.state.sending(), &http).await.unwrap();
    let confirmed = deliveries(&app, "&state=confirmed").await;
    assert_eq!(confirmed.len(), 2, "{confirmed:?}");
    assert_eq!(fake.seen().len(), 6, "no reminder for a sent task");
}

#[tokio::test]
async fn generic_webhooks_are_signed_and_carry_the_delivery_id_as_idempotency_key() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let secret = "0123456789abcdef0123";
    let r = app
        .post(
            "/v1/connections",
            json!({"platform": "generic", "name": "shop", "credentials": {"secret": secret},
            "settings": {"outbound_url": format!("{}/hook", fake.base)}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let g =
        app.post("/v1/groups", json!({"platform": "generic", "external_id": "mp-1", "name": "小程序群"})).await.id();
    once_plan(&app, &[&g], "hello {{group.name}}", "2026-11-20T10:05").await;
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let d = &deliveries(&app, "").await[0];
    assert_eq!(d["state"], "sent", "{d}");
    let seen = &fake.seen()[0];
    assert_eq!(seen.headers["idempotency-key"].to_str().unwrap(), d["id"].as_str().unwrap());
    assert_eq!(seen.body["message"], json!({"kind": "text", "text": "hello 小程序群"}));
    let sig = seen.headers["x-shequn-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let body = serde_json::to_vec(&seen.body).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    assert_eq!(v1.strip_prefix("v1=").unwrap(), hex::encode(mac.finalize().into_bytes()));
}

#[tokio::test]
async fn feishu_bots_are_signed_and_slack_posts_with_the_bot_token() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let fs = app.post("/v1/groups", json!({"platform": "feishu", "external_id": "oc_1", "name": "飞书群"})).await.id();
    let r = app
        .put(&format!("/v1/groups/{fs}/robot"),
            json!({"kind": "feishu_bot", "webhook_url": format!("{}/open-apis/bot/v2/hook/abc", fake.base), "secret": "s3cr3t"}))
        .await;
    assert_eq!((r.status, r.body["signed"].as_bool()), (StatusCode::OK, Some(true)));
    app.post(
        "/v1/connections",
        json!({"platform": "slack", "name": "ws",
        "credentials": {"signing_secret": "8f742231b10e8888abcd99yyyzzz85a5", "bot_token": "xoxb-SLACKTOKEN"},
        "settings": {"api_base_url": fake.base}}),
    )
    .await;
    let sl =
        app.post("/v1/groups", json!({"platform": "slack", "external_id": "C024BE91L", "name": "general"})).await.id();
    once_plan(&app, &[&fs, &sl], "hi {{group.name}}", "2026-11-20T10:05").await;
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let seen = fake.seen();
    let feishu = seen.iter().find(|s| s.path.starts_with("/open-apis")).expect("feishu call");
    let ts: i64 = feishu.body["timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(feishu.body["sign"], shequn::platforms::feishu::feishu_sign(ts, "s3cr3t"));
    assert_eq!(feishu.body["content"], json!({"text": "hi 飞书群"}));
    let slack = seen.iter().find(|s| s.path == "/api/chat.postMessage").expect("slack call");
    assert_eq!(slack.headers["authorization"].to_str().unwrap(), "Bearer xoxb-SLACKTOKEN");
    assert_eq!(slack.body["channel"], "C024BE91L");
    let ds = deliveries(&app, "&state=sent").await;
    assert_eq!(ds.len(), 2, "{:?}", deliveries(&app, "").await);
    assert!(ds.iter().any(|d| d["platform_message_id"] == "1503435956.000247"));
}

#[tokio::test]
async fn a_platform_that_times_out_is_retried_later() {
    let mut settings = test_settings();
    settings.delivery.request_timeout_secs = 1;
    settings.delivery.lease_secs = 5;
    let app = TestApp::spawn_with(settings).await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-11", "Asia/Shanghai").await;
    once_plan(&app, &[&g], "hi", "2026-11-20T10:05").await;
    fake.then(0, vec![], json!({}));
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    let d = &deliveries(&app, "").await[0];
    assert_eq!(d["state"], "failed");
    assert_eq!(d["attempts"][0]["error"], "timeout");
    assert!(d["next_attempt_at"].is_string());
}

#[tokio::test]
async fn a_group_daily_cap_stops_further_sends_that_day() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let r = app
        .post(
            "/v1/connections",
            json!({"platform": "telegram", "name": "tg", "credentials": {"bot_token": "1:T", "secret_token": "s"},
            "settings": {"api_base_url": fake.base, "group_daily_cap": 2}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bad = app
        .post(
            "/v1/connections",
            json!({"platform": "telegram", "credentials": {"bot_token": "1:T", "secret_token": "s"},
        "settings": {"group_daily_cap": 0}}),
        )
        .await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "settings.group_daily_cap"));
    let g = group(&app, "-12", "Asia/Shanghai").await;
    let c = content(&app, "tick").await;
    plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "cron", "expr": "*/5 * * * *"})).await;
    app.clock.set(utc("2026-11-20T02:14:00Z"));
    scheduler(&app).await;
    let mut ds = deliveries(&app, "").await;
    ds.sort_by_key(|d| d["slot_at"].as_str().unwrap().to_owned());
    let states: Vec<&str> = ds.iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["pending", "pending", "dead"]);
    assert!(ds[2]["last_error"].as_str().unwrap().contains("daily cap of 2"));
}

#[tokio::test]
async fn an_abandoned_send_becomes_uncertain_or_is_retried_where_the_receiver_dedupes() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    app.post(
        "/v1/connections",
        json!({"platform": "generic", "name": "shop", "credentials": {"secret": "0123456789abcdef"},
        "settings": {"outbound_url": format!("{}/hook", fake.base)}}),
    )
    .await;
    let tg = group(&app, "-13", "Asia/Shanghai").await;
    let gen = app.post("/v1/groups", json!({"platform": "generic", "external_id": "x", "name": "x"})).await.id();
    once_plan(&app, &[&tg, &gen], "hi", "2026-11-20T10:05").await;
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    // A worker claimed both and died before recording the platform's answer.
    let lease = utc("2026-11-20T02:05:00Z") + Duration::seconds(120);
    let claimed = {
        let mut conn = app.pool.acquire().await.unwrap();
        shequn::deliveries::repo::claim(&mut conn, utc("2026-11-20T02:05:00Z"), lease, 10, &[]).await.unwrap()
    };
    assert_eq!(claimed.len(), 2);
    assert_eq!(send(&app).await, 0, "leased deliveries are not sent again");
    app.clock.set(lease + Duration::seconds(1));
    send(&app).await;
    let tg_d = &deliveries(&app, &format!("&group_id={tg}")).await[0];
    assert_eq!(tg_d["state"], "uncertain", "{tg_d}");
    let gen_d = &deliveries(&app, &format!("&group_id={gen}")).await[0];
    assert_eq!(gen_d["state"], "sent", "the generic receiver dedupes on the idempotency key: {gen_d}");
    assert_eq!(fake.seen().len(), 1, "the uncertain one was not guessed at");
    let id = tg_d["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/v1/deliveries/{id}/retry"), json!({})).await.body["state"], "pending");
    send(&app).await;
    assert_eq!(app.get(&format!("/v1/deliveries/{id}")).await.body["state"], "sent");
}

#[tokio::test]
async fn groups_entering_a_layer_later_are_picked_up_by_the_next_sync() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let layer = app.post("/v1/layers", json!({"name": "beauty", "selector": {"tags": ["beauty"]}})).await.id();
    let first = app
        .post("/v1/groups", json!({"platform": "telegram", "external_id": "-20", "name": "a", "tags": ["beauty"]}))
        .await
        .id();
    let c = content(&app, "hi {{group.name}}").await;
    plan(&app, json!({"layer_id": layer}), &c, json!({"kind": "daily", "at": "10:00"})).await;
    // A second group gets the tag after the plan exists; the first one loses it.
    let later = app
        .post("/v1/groups", json!({"platform": "telegram", "external_id": "-21", "name": "b", "tags": ["beauty"]}))
        .await
        .id();
    app.patch(&format!("/v1/groups/{first}"), json!({"tags": []})).await;
    app.clock.set(utc("2026-11-20T02:01:00Z"));
    scheduler(&app).await;
    app.clock.set(utc("2026-11-21T02:00:30Z"));
    scheduler(&app).await;
    let ds = deliveries(&app, "").await;
    let groups: Vec<&str> = ds.iter().map(|d| d["group_id"].as_str().unwrap()).collect();
    assert_eq!(groups, [later.as_str()], "{ds:?}");
}

#[tokio::test]
async fn editing_a_step_changes_future_slots_only() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-22", "Asia/Shanghai").await;
    let c = content(&app, "morning").await;
    let pid = plan(&app, json!({"group_ids": [g]}), &c, json!({"kind": "daily", "at": "10:00"})).await;
    app.clock.set(utc("2026-11-20T02:00:10Z"));
    scheduler(&app).await;
    send(&app).await;
    let before = app.get(&format!("/v1/sop-plans/{pid}")).await.body["steps"][0]["id"].clone();
    // Same step again: keeps its id; a new time: a new step from now on.
    let same = app.patch(&format!("/v1/sop-plans/{pid}"), json!({"name": "renamed"})).await;
    assert_eq!(same.body["steps"][0]["id"], before);
    let moved = app
        .patch(
            &format!("/v1/sop-plans/{pid}"),
            json!({"steps": [{"content_id": c, "timing": {"kind": "daily", "at": "09:00"}}]}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_ne!(moved.body["steps"][0]["id"], before);
    app.clock.set(utc("2026-11-22T03:00:00Z"));
    scheduler(&app).await;
    let mut locals: Vec<String> =
        deliveries(&app, "").await.iter().map(|d| d["local_time"].as_str().unwrap().to_owned()).collect();
    locals.sort();
    // The 10:00 slot of the 20th was sent; from the edit on, 09:00 (the 21st was missed while nobody ran the scheduler).
    assert_eq!(locals, ["2026-11-20T10:00", "2026-11-21T09:00", "2026-11-22T09:00"]);
    let preview = app.get(&format!("/v1/sop-plans/{pid}/preview?from=2026-11-23&days=1")).await;
    assert_eq!(preview.body["items"][0]["local_time"], "2026-11-23T09:00");
    let bad = app.get(&format!("/v1/sop-plans/{pid}/preview?days=91")).await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "days"));
    // Extreme dates are answered, never a panic.
    let far = app.get(&format!("/v1/sop-plans/{pid}/preview?from=9999-12-31&days=90")).await;
    assert_eq!(far.status, StatusCode::OK, "{}", far.body);
    let early = app.get(&format!("/v1/sop-plans/{pid}/preview?from=0001-01-01")).await;
    assert_eq!((early.status, early.field()), (StatusCode::UNPROCESSABLE_ENTITY, "from"));
    let once = app
        .patch(
            &format!("/v1/sop-plans/{pid}"),
            json!({"steps": [{"content_id": c, "timing": {"kind": "once", "at": "0001-01-01T00:00"}}]}),
        )
        .await;
    assert_eq!((once.status, once.field()), (StatusCode::UNPROCESSABLE_ENTITY, "steps[0].timing.at"));
}

#[tokio::test]
async fn plan_edits_racing_the_scheduler_neither_deadlock_nor_fail() {
    let _ = tracing_subscriber::fmt().with_env_filter("error").with_test_writer().try_init();
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let groups = groups(&app, "-3", 30).await;
    let c = content(&app, "tick").await;
    let pid = plan(&app, json!({"group_ids": groups}), &c, json!({"kind": "cron", "expr": "* * * * *"})).await;
    let state = app.state.clone();
    let clock = app.clock.clone();
    let scheduler = tokio::spawn(async move {
        for _ in 0..40 {
            clock.advance(Duration::minutes(1));
            shequn::jobs::run_scheduler_once(&state).await.expect("scheduler pass");
        }
    });
    for j in 0..40 {
        let r = app.patch(&format!("/v1/sop-plans/{pid}"), json!({"jitter_seconds": j % 5})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    scheduler.await.unwrap();
    let dup: i64 = sqlx::query_scalar("SELECT count(*) - count(DISTINCT (step_id, group_id, slot_at)) FROM deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dup, 0);
    assert!(app.count("deliveries").await > 0);
}

#[tokio::test]
async fn what_a_plan_uses_cannot_be_deleted_from_under_it() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let conn = telegram(&app, &fake).await;
    let c = content(&app, "go {{campaign.link}}").await;
    let layer = app.post("/v1/layers", json!({"name": "all", "selector": {}})).await.id();
    let campaign = app
        .post(
            "/v1/campaigns",
            json!({"name": "c", "scene": "conversion", "kind": "coupon", "link": "https://shop.example/c"}),
        )
        .await
        .id();
    let tier = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 50})).await;
    assert_eq!(tier.status, StatusCode::CREATED, "{}", tier.body);
    let tier_id = tier.id();
    for target in [json!({"layer_id": layer}), json!({"tier": "gold"})] {
        let r = app
            .post(
                "/v1/sop-plans",
                json!({"name": format!("p{target}"), "target": target, "campaign_id": campaign,
                "connection_id": conn, "steps": [{"content_id": c, "timing": {"kind": "daily", "at": "09:00"}}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    for (path, code) in [
        (format!("/v1/layers/{layer}"), "layer_in_use"),
        (format!("/v1/tiers/{tier_id}"), "tier_in_use"),
        (format!("/v1/campaigns/{campaign}"), "campaign_in_use"),
        (format!("/v1/connections/{conn}"), "connection_in_use"),
        (format!("/v1/contents/{c}"), "content_in_use"),
    ] {
        let r = app.delete(&path).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, code), "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn a_group_archived_between_syncs_is_not_sent_to() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let g = group(&app, "-40", "Asia/Shanghai").await;
    // Due at once (the clock stands at 02:00Z = 10:00 local), and within the
    // sync interval, so only the claim itself can keep the message back.
    once_plan(&app, &[&g], "hi", "2026-11-20T10:00").await;
    let r = app.patch(&format!("/v1/groups/{g}"), json!({"status": "archived"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.set(utc("2026-11-20T02:00:10Z"));
    scheduler(&app).await;
    assert_eq!(app.count("deliveries").await, 0);
}

/// One hanging platform call holds one place of the window, not a batch: the
/// other groups' messages are sent and recorded while it hangs.
#[tokio::test]
async fn a_hanging_call_does_not_hold_back_the_other_sends() {
    let mut settings = test_settings();
    settings.delivery.request_timeout_secs = 4;
    let app = TestApp::spawn_with(settings).await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let groups = groups(&app, "-3", 10).await;
    let ids: Vec<&str> = groups.iter().map(String::as_str).collect();
    once_plan(&app, &ids, "hi", "2026-11-20T10:05").await;
    // The first call to arrive hangs past the timeout; the others are answered at once.
    fake.then(0, vec![], json!({}));
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    assert_eq!(scheduler(&app).await, 10);
    let state = app.state.clone();
    let pump = tokio::spawn(async move {
        let http = shequn::deliveries::worker::http_client(&state.settings.delivery).unwrap();
        shequn::jobs::drain_deliveries(&state, &http).await.unwrap()
    });
    let states = || async {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT state::text FROM deliveries ORDER BY 1").fetch_all(&app.pool).await.unwrap();
        rows
    };
    let mut seen = states().await;
    for _ in 0..300 {
        if seen.iter().filter(|s| *s == "sent").count() == 9 || pump.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = states().await;
    }
    // Nine recorded as sent while the tenth is still in flight.
    let mut expected = vec!["sending".to_owned()];
    expected.extend(std::iter::repeat_n("sent".to_owned(), 9));
    assert_eq!(seen, expected);
    assert!(!pump.is_finished());
    assert_eq!(pump.await.unwrap(), 10);
    let d = deliveries(&app, "&state=failed").await;
    assert_eq!((d.len(), d[0]["attempts"][0]["error"].as_str()), (1, Some("timeout")));
}

#[tokio::test]
async fn sends_over_a_bots_rate_limit_are_given_back_until_the_window_frees() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    telegram(&app, &fake).await;
    let groups = groups(&app, "-30", 35).await;
    let ids: Vec<&str> = groups.iter().map(String::as_str).collect();
    once_plan(&app, &ids, "早上好", "2026-11-20T10:05").await;
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    // A window of 32 is claimed; once the bot's window is full the rest of
    // its backlog is left alone rather than claimed and given back.
    assert_eq!(app.state.settings.delivery.concurrency, 32);
    assert_eq!(send(&app).await, 32, "claimed");
    // Telegram: 30 a second per bot. The other five are given back, with no
    // attempt counted, until the second is over.
    assert_eq!(fake.seen().len(), 30);
    let ds = deliveries(&app, "").await;
    let waiting: Vec<&Value> = ds.iter().filter(|d| d["state"] == "pending").collect();
    assert_eq!((ds.len(), waiting.len()), (35, 5));
    for d in &waiting {
        assert_eq!(d["attempts"], json!([]), "{d}");
        assert!(d["next_attempt_at"].as_str().unwrap() > "2026-11-20T02:05:00", "{d}");
    }
    send(&app).await;
    assert_eq!(fake.seen().len(), 30, "nothing more goes out within the second");
    app.clock.set(utc("2026-11-20T02:05:01Z"));
    send(&app).await;
    assert_eq!(fake.seen().len(), 35);
    let ds = deliveries(&app, "&state=sent").await;
    assert_eq!(ds.len(), 35);
    assert!(ds.iter().all(|d| d["attempts"].as_array().map(Vec::len) == Some(1)), "one attempt each");
}
