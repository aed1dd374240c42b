//! Connections and platform webhooks: real payload shapes, every kind of
//! signature failure, replays and concurrent redeliveries, rotation, the
//! inbox and recovery of interrupted requests.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shequn::platforms::crypto::hmac_sha256_hex;
use shequn::platforms::wecom::crypto::{wecom_encrypt, wecom_signature};

use crate::helpers::TestApp;

pub(crate) const T0: i64 = 1795140000; // 2026-11-20T02:00:00Z, the test clock

pub(crate) async fn connect(app: &TestApp, platform: &str, credentials: Value) -> String {
    let r =
        app.post("/v1/connections", json!({"platform": platform, "name": platform, "credentials": credentials})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["webhook_url"], format!("/hooks/{platform}/{}", r.id()));
    assert!(r.body.get("credentials").is_none());
    r.body["webhook_url"].as_str().unwrap().to_owned()
}

pub(crate) async fn raw(
    app: &TestApp,
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut req = app.client.request(method, format!("{}{url}", app.base)).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap();
    let out = (res.status(), res.text().await.unwrap());
    // Queued mode: the answer means "stored"; run the processor as the server would.
    app.drain_inbox().await;
    out
}

async fn counts(app: &TestApp) -> (i64, i64) {
    (app.count("inbox").await, app.count("events").await)
}

// ---------- generic ----------

pub(crate) fn generic_headers(secret: &str, t: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-shequn-signature", shequn::platforms::generic::sign(secret, t, body)),
        ("content-type", "application/json".into()),
    ]
}

#[tokio::test]
async fn generic_webhooks_are_verified_stored_and_deduped() {
    let app = TestApp::spawn().await;
    let secret = "0123456789abcdef-secret";
    let url = connect(&app, "generic", json!({"secret": secret})).await;
    let body = serde_json::to_vec(&json!([{"id": "order-1-paid", "type": "order_paid", "occurred_at": "2026-11-20T01:59:00Z",
        "member": {"platform": "generic", "external_id": "shop-user-9"}, "order_id": "A1", "amount": 9900, "currency": "CNY"}])).unwrap();
    let (status, text) = raw(&app, Method::POST, &url, &generic_headers(secret, T0, &body), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["status"], "received", "queued: answered once stored");
    assert!(answer["inbox_id"].is_string());
    // A replayed valid request is acknowledged and deduped.
    let (status, _) = raw(&app, Method::POST, &url, &generic_headers(secret, T0, &body), body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let inbox = app.get("/v1/inbox").await;
    let dup: Vec<i64> =
        inbox.body["items"].as_array().unwrap().iter().map(|e| e["events_duplicate"].as_i64().unwrap()).collect();
    assert_eq!(dup, [1, 0]);
    assert_eq!(counts(&app).await, (2, 1));
    let events = app.get("/v1/events").await;
    assert_eq!(events.body["items"][0]["source"], "generic");

    let mut flipped_body = body.clone();
    flipped_body[10] ^= 1;
    let good = shequn::platforms::generic::sign(secret, T0, &body);
    type Headers = Vec<(&'static str, String)>;
    let bad_cases: Vec<(Headers, Vec<u8>)> = vec![
        (generic_headers(secret, T0, &body), flipped_body),
        (vec![("x-shequn-signature", good.replace("v1=", "v1=0"))], body.clone()),
        (vec![("x-shequn-signature", good.replace(&T0.to_string(), &(T0 + 1).to_string()))], body.clone()),
        (generic_headers(secret, T0 - 301, &body), body.clone()),
        (generic_headers("another-secret-0000", T0, &body), body.clone()),
        (vec![], body.clone()),
    ];
    for (headers, b) in bad_cases {
        let (status, text) = raw(&app, Method::POST, &url, &headers, b).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error"]["code"], "unauthorized");
    }
    let unknown = format!("/hooks/generic/{}", uuid::Uuid::now_v7());
    assert_eq!(
        raw(&app, Method::POST, &unknown, &generic_headers(secret, T0, &body), body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(raw(&app, Method::POST, "/hooks/myspace/x", &[], vec![]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(raw(&app, Method::POST, &url.replace("generic", "slack"), &[], vec![]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(counts(&app).await, (2, 1), "refused requests store nothing");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("shequn_webhook_rejections_total{platform=\"generic\",reason=\"bad signature\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rotated_credentials_keep_the_old_secret_valid_for_the_grace_period_only() {
    let app = TestApp::spawn().await;
    let url = connect(&app, "generic", json!({"secret": "old-secret-0123456789"})).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v1/connections/{id}/rotate"),
            json!({"credentials": {"secret": "new-secret-0123456789"}, "grace_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["previous_valid_until"], "2026-11-20T02:10:00Z");
    let body = b"[]".to_vec();
    for secret in ["old-secret-0123456789", "new-secret-0123456789"] {
        assert_eq!(
            raw(&app, Method::POST, &url, &generic_headers(secret, T0, &body), body.clone()).await.0,
            StatusCode::OK
        );
    }
    app.clock.advance(chrono::Duration::minutes(11));
    let t = T0 + 660;
    assert_eq!(
        raw(&app, Method::POST, &url, &generic_headers("old-secret-0123456789", t, &body), body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        raw(&app, Method::POST, &url, &generic_headers("new-secret-0123456789", t, &body), body.clone()).await.0,
        StatusCode::OK
    );
    let bad = app.post(&format!("/v1/connections/{id}/rotate"), json!({"credentials": {"secret": "short"}})).await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "credentials.secret"));
}

// ---------- telegram ----------

pub(crate) fn tg_user(id: i64, name: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": name})
}

fn tg_chat() -> Value {
    json!({"id": -1001234567, "type": "supergroup", "title": "上海宝妈VIP群"})
}

pub(crate) async fn tg(app: &TestApp, url: &str, token: &str, update: Value) -> StatusCode {
    raw(
        app,
        Method::POST,
        url,
        &[("x-telegram-bot-api-secret-token", token.to_owned()), ("content-type", "application/json".into())],
        serde_json::to_vec(&update).unwrap(),
    )
    .await
    .0
}

#[tokio::test]
async fn telegram_updates_become_joins_messages_and_leaves() {
    let app = TestApp::spawn().await;
    let url = connect(&app, "telegram", json!({"bot_token": "123:ABC", "secret_token": "tg-secret_1"})).await;
    let date = T0 - 3600;
    let updates = [
        json!({"update_id": 1, "my_chat_member": {"chat": tg_chat(), "from": tg_user(7, "Owner"), "date": date,
               "old_chat_member": {"status": "left", "user": {"id": 99, "is_bot": true, "first_name": "bot"}},
               "new_chat_member": {"status": "administrator", "user": {"id": 99, "is_bot": true, "first_name": "bot"}}}}),
        json!({"update_id": 2, "chat_member": {"chat": tg_chat(), "from": tg_user(42, "Lily"), "date": date + 1,
               "old_chat_member": {"status": "left", "user": tg_user(42, "Lily")},
               "new_chat_member": {"status": "member", "user": tg_user(42, "Lily")},
               "invite_link": {"invite_link": "https://t.me/+AbCdEf", "name": "poster-A", "creator": tg_user(7, "Owner"),
                               "creates_join_request": false, "is_primary": false, "is_revoked": false}}}),
        json!({"update_id": 3, "message": {"message_id": 10, "date": date + 2, "chat": tg_chat(), "from": tg_user(8, "Amy"),
               "new_chat_members": [tg_user(43, "Bob")]}}),
        json!({"update_id": 4, "message": {"message_id": 11, "date": date + 3, "chat": tg_chat(), "from": tg_user(42, "Lily"), "text": "早上好"}}),
        json!({"update_id": 5, "message": {"message_id": 12, "date": date + 4, "chat": tg_chat(), "from": tg_user(43, "Bob"),
               "left_chat_member": tg_user(43, "Bob")}}),
        json!({"update_id": 6, "message": {"message_id": 1, "date": date, "chat": {"id": 42, "type": "private"}, "from": tg_user(42, "Lily"), "text": "hi"}}),
    ];
    for u in &updates {
        assert_eq!(tg(&app, &url, "tg-secret_1", u.clone()).await, StatusCode::OK);
    }
    // Telegram redelivers update 4: stored again, counted once.
    assert_eq!(tg(&app, &url, "tg-secret_1", updates[3].clone()).await, StatusCode::OK);
    let kinds: Vec<String> = app.get("/v1/events?limit=50").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["member_left", "message_sent", "member_joined", "member_joined"]);

    let group = app.get("/v1/groups?platform=telegram").await.body["items"][0].clone();
    assert_eq!((group["external_id"].as_str(), group["name"].as_str()), (Some("-1001234567"), Some("上海宝妈VIP群")));
    let members = app.get(&format!("/v1/groups/{}/members?include=history", group["id"].as_str().unwrap())).await;
    let items = members.body["items"].as_array().unwrap();
    let lily = items.iter().find(|m| m["display_name"] == "Lily").unwrap();
    assert_eq!(
        (lily["source"].as_str(), lily["invite_code"].as_str(), lily["left_at"].clone()),
        (Some("invite_link"), Some("poster-A"), Value::Null)
    );
    let bob = items.iter().find(|m| m["display_name"] == "Bob").unwrap();
    assert_eq!((bob["source"].as_str(), bob["leave_reason"].as_str()), (Some("direct_invite"), Some("left")));
    assert!(bob["inviter_id"].is_string());
    assert_eq!(group["member_count"], 1);

    // A bot added to the group becomes a member flagged as a bot.
    let bot = json!({"update_id": 7, "message": {"message_id": 13, "date": date + 5, "chat": tg_chat(), "from": tg_user(8, "Amy"),
        "new_chat_members": [{"id": 500, "is_bot": true, "first_name": "HelperBot"}]}});
    assert_eq!(tg(&app, &url, "tg-secret_1", bot).await, StatusCode::OK);
    app.drain_inbox().await;
    let bots = app.get("/v1/members?is_bot=true").await;
    let names: Vec<&str> =
        bots.body["items"].as_array().unwrap().iter().map(|m| m["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["HelperBot"]);

    assert_eq!(tg(&app, &url, "wrong", updates[3].clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        raw(&app, Method::POST, &url, &[], serde_json::to_vec(&updates[3]).unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(tg(&app, &url, "tg-secret_1", json!({"hello": "world"})).await, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("inbox").await, 8, "the seven updates, one redelivery; refusals store nothing");
}

#[tokio::test]
async fn concurrent_redeliveries_of_one_telegram_update_count_once() {
    let app = TestApp::spawn().await;
    let url = connect(&app, "telegram", json!({"bot_token": "123:ABC", "secret_token": "s"})).await;
    let update = json!({"update_id": 77, "message": {"message_id": 1, "date": T0 - 10, "chat": tg_chat(), "from": tg_user(42, "Lily"), "text": "hi"}});
    let mut handles = Vec::new();
    for _ in 0..8 {
        let req =
            app.client.post(format!("{}{url}", app.base)).header("x-telegram-bot-api-secret-token", "s").json(&update);
        handles.push(tokio::spawn(async move { req.send().await.unwrap().status() }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(app.drain_inbox().await, 8);
    assert_eq!(counts(&app).await, (8, 1));
}

// ---------- slack ----------

pub(crate) fn slack_headers(secret: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut msg = format!("v0:{ts}:").into_bytes();
    msg.extend_from_slice(body);
    vec![
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", format!("v0={}", hmac_sha256_hex(secret.as_bytes(), &msg))),
        ("content-type", "application/json".into()),
    ]
}

pub(crate) fn slack_event(id: &str, event: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": id, "event_time": T0 - 60, "event": event}))
    .unwrap()
}

#[tokio::test]
async fn slack_events_are_verified_challenged_and_normalised() {
    let app = TestApp::spawn().await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let url = connect(&app, "slack", json!({"signing_secret": secret})).await;
    let challenge = serde_json::to_vec(&json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})).unwrap();
    let (status, text) = raw(&app, Method::POST, &url, &slack_headers(secret, T0, &challenge), challenge.clone()).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()["challenge"].as_str()),
        (StatusCode::OK, Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    );

    let bodies = [
        slack_event(
            "Ev1",
            json!({"type": "member_joined_channel", "user": "U2", "channel": "C1", "channel_type": "C", "team": "T1", "inviter": "U1"}),
        ),
        slack_event(
            "Ev2",
            json!({"type": "message", "user": "U2", "text": "hello", "channel": "C1", "ts": "1763604000.000100", "channel_type": "channel"}),
        ),
        slack_event(
            "Ev3",
            json!({"type": "message", "subtype": "channel_join", "user": "U2", "channel": "C1", "ts": "1"}),
        ),
        slack_event(
            "Ev4",
            json!({"type": "member_left_channel", "user": "U2", "channel": "C1", "channel_type": "C", "team": "T1"}),
        ),
    ];
    for b in &bodies {
        assert_eq!(raw(&app, Method::POST, &url, &slack_headers(secret, T0, b), b.clone()).await.0, StatusCode::OK);
    }
    // Slack retries Ev2 with X-Slack-Retry-Num: a duplicate.
    let mut retry = slack_headers(secret, T0, &bodies[1]);
    retry.push(("x-slack-retry-num", "1".into()));
    assert_eq!(raw(&app, Method::POST, &url, &retry, bodies[1].clone()).await.0, StatusCode::OK);
    let kinds: Vec<String> = app.get("/v1/events").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");

    let mut flipped = bodies[1].clone();
    flipped[20] ^= 1;
    let good = slack_headers(secret, T0, &bodies[1]);
    let sig_flipped: Vec<(&str, String)> = good
        .iter()
        .map(|(k, v)| (*k, if *k == "x-slack-signature" { v.replace("v0=", "v0=f") } else { v.clone() }))
        .collect();
    let ts_flipped: Vec<(&str, String)> = good
        .iter()
        .map(|(k, v)| (*k, if *k == "x-slack-request-timestamp" { (T0 + 1).to_string() } else { v.clone() }))
        .collect();
    for (headers, body) in [
        (good.clone(), flipped),
        (sig_flipped, bodies[1].clone()),
        (ts_flipped, bodies[1].clone()),
        (slack_headers(secret, T0 - 301, &bodies[1]), bodies[1].clone()),
        (vec![("x-slack-signature", good[1].1.clone())], bodies[1].clone()),
    ] {
        assert_eq!(raw(&app, Method::POST, &url, &headers, body).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.count("inbox").await, 5, "the challenge and refusals store nothing");
}

// ---------- wecom ----------

pub(crate) const WECOM_TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
pub(crate) const WECOM_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
pub(crate) const WECOM_CORP: &str = "ww1436e0e65a779aee";

pub(crate) async fn wecom_connection(app: &TestApp) -> String {
    connect(app, "wecom", json!({"corp_id": WECOM_CORP, "token": WECOM_TOKEN, "encoding_aes_key": WECOM_KEY})).await
}

pub(crate) fn wecom_post(inner: &str, receive_id: &str, ts: &str, nonce: &str) -> (String, Vec<u8>) {
    let encrypt = wecom_encrypt(WECOM_KEY, inner.as_bytes(), receive_id, [9; 16]).unwrap();
    let sig = wecom_signature(WECOM_TOKEN, ts, nonce, &encrypt);
    let body = format!("<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>");
    (format!("?msg_signature={sig}&timestamp={ts}&nonce={nonce}"), body.into_bytes())
}

pub(crate) fn chat_change(chat: &str, change: &str, detail: &str, extra: &str, time: i64) -> String {
    format!("<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
             <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event>\
             <ChatId><![CDATA[{chat}]]></ChatId><ChangeType><![CDATA[{change}]]></ChangeType>\
             <UpdateDetail><![CDATA[{detail}]]></UpdateDetail>{extra}</xml>")
}

#[tokio::test]
async fn the_official_wecom_url_verification_sample_is_echoed() {
    let app = TestApp::spawn().await;
    let url = wecom_connection(&app).await;
    let echostr = "fsi1xnbH4yQh0%2BPJxcOdhhK6TDXkjMyhEPA7xB2TGz6b%2Bg7xyAbEkRxN%2F3cNXW9qdqjnoVzEtpbhnFyq6SVHyA%3D%3D";
    let q = format!(
        "?msg_signature=012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb&timestamp=1476416373&nonce=47744683&echostr={echostr}"
    );
    let (status, text) = raw(&app, Method::GET, &format!("{url}{q}"), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.is_empty() && !text.contains("error"), "{text}");
    let bad = q.replace("47744683", "47744684");
    assert_eq!(raw(&app, Method::GET, &format!("{url}{bad}"), &[], vec![]).await.0, StatusCode::UNAUTHORIZED);
    // The official encrypted message sample (a text message) is accepted and acknowledged.
    let sample = "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>";
    let q = "?msg_signature=0c3914025cb4b4d68103f6bfc8db550f79dcf48e&timestamp=1476422779&nonce=1597212914";
    let (status, text) = raw(&app, Method::POST, &format!("{url}{q}"), &[], sample.as_bytes().to_vec()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    assert_eq!(counts(&app).await, (1, 0));
}

#[tokio::test]
async fn wecom_group_changes_become_memberships_and_group_states() {
    let app = TestApp::spawn().await;
    let url = wecom_connection(&app).await;
    let t = T0 - 600;
    let posts = [
        chat_change("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "create", "", "", t),
        chat_change("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "update", "add_member",
            "<JoinScene>3</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>wmA</Item><Item>wmB</Item></MemChangeList>", t + 1),
        chat_change("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "update", "del_member",
            "<JoinScene>0</JoinScene><QuitScene>1</QuitScene><MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>wmB</Item></MemChangeList>", t + 2),
        chat_change("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "update", "change_name", "", t + 3),
        format!("<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{}</CreateTime>\
                 <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
                 <UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmC]]></ExternalUserID><State><![CDATA[flyer-12]]></State></xml>", t + 4),
    ];
    for (i, inner) in posts.iter().enumerate() {
        let (q, body) = wecom_post(inner, WECOM_CORP, &(t + i as i64).to_string(), "n1");
        let (status, text) = raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "success"), "post {i}");
    }
    let group = app.get("/v1/groups?platform=wecom").await.body["items"][0].clone();
    let members = app.get(&format!("/v1/groups/{}/members?include=history", group["id"].as_str().unwrap())).await;
    let items = members.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|m| m["source"] == "qr_code"));
    assert_eq!(items.iter().filter(|m| m["leave_reason"] == "removed").count(), 1);
    assert_eq!(app.get("/v1/events?type=custom.group_updated").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/members?platform=wecom&external_id=wmC").await.body["items"].as_array().unwrap().len(), 1);

    let (q, body) =
        wecom_post(&chat_change("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "dismiss", "", "", t + 9), WECOM_CORP, "9", "n2");
    assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await.0, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/groups/{}", group["id"].as_str().unwrap())).await.body["status"], "dismissed");
}

#[tokio::test]
async fn wecom_signature_failures_of_every_kind_store_nothing() {
    let app = TestApp::spawn().await;
    let url = wecom_connection(&app).await;
    let inner = chat_change("wrX", "create", "", "", T0);
    let (q, body) = wecom_post(&inner, WECOM_CORP, "1700000000", "12345");
    let mut flipped_body = body.clone();
    let pos = body.windows(18).position(|w| w == b"<Encrypt><![CDATA[").map(|p| p + 30).unwrap();
    flipped_body[pos] ^= 1;
    let (other_corp_q, other_corp_body) = wecom_post(&inner, "wwSomeOtherCorp", "1700000000", "12345");
    let cases = vec![
        (q.clone(), flipped_body, StatusCode::UNAUTHORIZED),
        (q.replace("msg_signature=", "msg_signature=0"), body.clone(), StatusCode::UNAUTHORIZED),
        (q.replace("timestamp=1700000000", "timestamp=1700000001"), body.clone(), StatusCode::UNAUTHORIZED),
        (q.replace("nonce=12345", "nonce=12346"), body.clone(), StatusCode::UNAUTHORIZED),
        (other_corp_q, other_corp_body, StatusCode::UNAUTHORIZED),
        (String::new(), body.clone(), StatusCode::UNAUTHORIZED),
        // Too broken to find the signed part in: unverifiable, so 401 too.
        (
            q.clone(),
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><xml><Encrypt>&a;</Encrypt></xml>".to_vec(),
            StatusCode::UNAUTHORIZED,
        ),
        (q.clone(), b"not xml".to_vec(), StatusCode::UNAUTHORIZED),
    ];
    for (i, (query, b, status)) in cases.into_iter().enumerate() {
        assert_eq!(raw(&app, Method::POST, &format!("{url}{query}"), &[], b).await.0, status, "case {i}");
    }
    assert_eq!(counts(&app).await, (0, 0));
    assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await.0, StatusCode::OK);
}

// ---------- inbox ----------

#[tokio::test]
async fn failed_requests_stay_in_the_inbox_and_can_be_replayed() {
    let app = TestApp::spawn().await;
    let secret = "0123456789abcdef-secret";
    let url = connect(&app, "generic", json!({"secret": secret})).await;
    let body =
        serde_json::to_vec(&json!([{"id": "x1", "type": "ordered", "occurred_at": "2026-11-20T00:00:00Z"}])).unwrap();
    assert_eq!(raw(&app, Method::POST, &url, &generic_headers(secret, T0, &body), body).await.0, StatusCode::OK);
    let failed = app.get("/v1/inbox?status=failed").await;
    let entry = failed.body["items"][0].clone();
    assert!(entry["error"].as_str().unwrap().contains("unknown type"), "{entry}");
    let id = entry["id"].as_str().unwrap();
    let replay = app.post(&format!("/v1/inbox/{id}/replay"), json!({})).await;
    assert_eq!((replay.status, replay.body["entry"]["attempts"].as_i64()), (StatusCode::OK, Some(2)));
    assert_eq!(app.get("/v1/inbox?status=processed").await.body["items"], json!([]));
    let other = app.other_workspace("other").await;
    assert_eq!(
        app.send(Method::GET, &format!("/v1/inbox/{id}"), Some(&other), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::POST, &format!("/v1/inbox/{id}/replay"), Some(&other), Some(json!({}))).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_request_stored_before_a_crash_is_processed_by_the_inbox_processor() {
    let app = TestApp::spawn().await;
    let url = connect(&app, "telegram", json!({"bot_token": "1:a", "secret_token": "s"})).await;
    let connection: uuid::Uuid = url.rsplit('/').next().unwrap().parse().unwrap();
    let ws: uuid::Uuid = app.workspace_id.parse().unwrap();
    // What a process killed right after storing leaves behind: a `received` row.
    let update = json!({"update_id": 5, "message": {"message_id": 1, "date": T0 - 100, "chat": tg_chat(), "from": tg_user(42, "Lily"), "text": "hi"}});
    sqlx::query("INSERT INTO inbox (workspace_id, id, connection_id, platform, body, received_at) VALUES ($1, $2, $3, 'telegram', $4, $5)")
        .bind(ws).bind(uuid::Uuid::now_v7()).bind(connection).bind(serde_json::to_vec(&update).unwrap())
        .bind(chrono::DateTime::from_timestamp(T0 - 5, 0).unwrap())
        .execute(&app.pool).await.unwrap();
    assert_eq!(app.drain_inbox().await, 1);
    assert_eq!(app.count("events").await, 1);
    assert_eq!(app.drain_inbox().await, 0, "processed once");
    assert_eq!(app.get("/v1/inbox?status=processed").await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn connections_validate_credentials_hide_them_and_stay_in_their_workspace() {
    let app = TestApp::spawn().await;
    let url = connect(&app, "slack", json!({"signing_secret": "super-secret-signing", "bot_token": "xoxb-1"})).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let list = app.get("/v1/connections").await;
    assert!(!list.body.to_string().contains("super-secret-signing"));
    for (body, field) in [
        (json!({"platform": "wecom", "credentials": {"corp_id": "ww1"}}), "credentials.token"),
        (
            json!({"platform": "telegram", "credentials": {"bot_token": "1:a", "secret_token": "s", "x": "y"}}),
            "credentials.x",
        ),
        (json!({"platform": "slack", "credentials": "secret"}), "credentials"),
        (json!({"platform": "dingtalk", "credentials": {}}), "platform"),
        (
            json!({"platform": "slack", "credentials": {"signing_secret": "12345678"}, "settings": {"api_base_url": "ftp://x"}}),
            "settings.api_base_url",
        ),
    ] {
        let r = app.post("/v1/connections", body.clone()).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}");
    }
    let operator = app.key_with_role("operator").await;
    assert_eq!(
        app.send(
            Method::POST,
            "/v1/connections",
            Some(&operator),
            Some(json!({"platform": "generic", "credentials": {"secret": "0123456789abcdef"}}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let r = app.patch(&format!("/v1/connections/{id}"), json!({"status": "disabled"})).await;
    assert_eq!(r.body["status"], "disabled");
    let body = slack_event("Ev1", json!({"type": "message", "user": "U1", "channel": "C1"}));
    assert_eq!(
        raw(&app, Method::POST, &url, &slack_headers("super-secret-signing", T0, &body), body).await.0,
        StatusCode::NOT_FOUND
    );
    let other = app.other_workspace("other").await;
    for (m, path) in [(Method::GET, format!("/v1/connections/{id}")), (Method::DELETE, format!("/v1/connections/{id}"))]
    {
        assert_eq!(app.send(m, &path, Some(&other), None).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.delete(&format!("/v1/connections/{id}")).await.status, StatusCode::NO_CONTENT);
}

// ---------- feishu ----------

pub(crate) fn lark(key: &str, inner: &Value, ts: i64, nonce: &str) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let enc = shequn::platforms::feishu::crypto::feishu_encrypt(key, &serde_json::to_vec(inner).unwrap(), [5; 16]);
    let body = serde_json::to_vec(&json!({"encrypt": enc})).unwrap();
    let sig = shequn::platforms::feishu::crypto::feishu_signature(&ts.to_string(), nonce, key, &body);
    let headers = vec![
        ("x-lark-request-timestamp", ts.to_string()),
        ("x-lark-request-nonce", nonce.to_owned()),
        ("x-lark-signature", sig),
        ("content-type", "application/json".into()),
    ];
    (headers, body)
}

pub(crate) fn lark_event(id: &str, kind: &str, event: Value, token: &str) -> Value {
    json!({"schema": "2.0", "header": {"event_id": id, "token": token, "create_time": format!("{}000", T0 - 30),
           "event_type": kind, "tenant_key": "t1", "app_id": "cli_a1"}, "event": event})
}

#[tokio::test]
async fn feishu_events_are_decrypted_verified_and_normalised() {
    let app = TestApp::spawn().await;
    let key = "lark-encrypt-key";
    let url =
        connect(&app, "feishu", json!({"app_id": "cli_a1", "verification_token": "vtok", "encrypt_key": key})).await;
    // The URL challenge arrives encrypted, without signature headers.
    let (_, challenge) =
        lark(key, &json!({"challenge": "ch-123", "token": "vtok", "type": "url_verification"}), T0, "n");
    let (status, text) = raw(&app, Method::POST, &url, &[], challenge).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()["challenge"].as_str()),
        (StatusCode::OK, Some("ch-123"))
    );

    let users =
        json!([{"name": "Lily", "user_id": {"open_id": "ou_lily"}}, {"name": "Bob", "user_id": {"open_id": "ou_bob"}}]);
    let events = [
        lark_event(
            "e1",
            "im.chat.member.user.added_v1",
            json!({"chat_id": "oc_1", "name": "深圳美妆群", "operator_id": {"open_id": "ou_admin"}, "users": users}),
            "vtok",
        ),
        lark_event(
            "e2",
            "im.message.receive_v1",
            json!({"sender": {"sender_id": {"open_id": "ou_lily"}, "sender_type": "user"},
            "message": {"message_id": "om_1", "chat_id": "oc_1", "chat_type": "group", "message_type": "text", "content": "{\"text\":\"hi\"}"}}),
            "vtok",
        ),
        lark_event(
            "e3",
            "im.chat.member.user.withdrawn_v1",
            json!({"chat_id": "oc_1", "users": [{"name": "Bob", "user_id": {"open_id": "ou_bob"}}]}),
            "vtok",
        ),
    ];
    for e in &events {
        let (headers, body) = lark(key, e, T0, "nonce-1");
        assert_eq!(raw(&app, Method::POST, &url, &headers, body).await.0, StatusCode::OK);
    }
    let kinds: Vec<String> = app.get("/v1/events").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    let group = app.get("/v1/groups?platform=feishu").await.body["items"][0].clone();
    assert_eq!((group["name"].as_str(), group["member_count"].as_i64()), (Some("深圳美妆群"), Some(1)));

    let (headers, body) = lark(key, &lark_event("e9", "im.message.receive_v1", json!({}), "wrong-token"), T0, "n");
    assert_eq!(raw(&app, Method::POST, &url, &headers, body).await.0, StatusCode::UNAUTHORIZED);
    let (mut headers, body) = lark(key, &events[1], T0, "n");
    headers[1].1 = "other-nonce".into();
    assert_eq!(raw(&app, Method::POST, &url, &headers, body.clone()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(raw(&app, Method::POST, &url, &[], body).await.0, StatusCode::UNAUTHORIZED, "events must be signed");
    let (headers, body) = lark(key, &events[1], T0 - 400, "n");
    assert_eq!(raw(&app, Method::POST, &url, &headers, body).await.0, StatusCode::UNAUTHORIZED);
    let (headers, body) =
        lark(key, &lark_event("e4", "im.chat.disbanded_v1", json!({"chat_id": "oc_1"}), "vtok"), T0, "n");
    assert_eq!(raw(&app, Method::POST, &url, &headers, body).await.0, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/groups/{}", group["id"].as_str().unwrap())).await.body["status"], "dismissed");
}

#[tokio::test]
async fn inline_mode_processes_before_answering() {
    let mut settings = crate::helpers::test_settings();
    settings.ingest.webhook_mode = shequn::config::WebhookMode::Inline;
    let app = TestApp::spawn_with(settings).await;
    let secret = "0123456789abcdef-secret";
    let url = connect(&app, "generic", json!({"secret": secret})).await;
    let body = serde_json::to_vec(&json!([{"id": "e1", "type": "checked_in", "occurred_at": "2026-11-20T01:00:00Z"},
                                          {"id": "e2", "type": "bogus", "occurred_at": "2026-11-20T01:00:00Z"}]))
    .unwrap();
    let res = app
        .client
        .post(format!("{}{url}", app.base))
        .headers(reqwest::header::HeaderMap::from_iter(
            generic_headers(secret, T0, &body).into_iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())),
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        (answer["status"].as_str(), answer["accepted"].as_u64(), answer["errors"].as_array().map(Vec::len)),
        (Some("failed"), Some(1), Some(1))
    );
    assert_eq!(app.count("events").await, 1, "stored before the answer, without the processor");
}
