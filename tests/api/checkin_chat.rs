//! Check-ins typed in chat: keywords from each platform's webhook, once
//! however often the platform redelivers, with the bot's reply sent through
//! the group's connection.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checkin::{balance, campaign};
use crate::helpers::TestApp;
use crate::sop::{content, send, telegram, Fake};
use crate::webhooks::{
    connect, generic_headers, lark, lark_event, raw, slack_event, slack_headers, tg, tg_user, wecom_connection, T0,
    WECOM_CORP, WECOM_KEY, WECOM_TOKEN,
};

fn tg_msg(update: i64, from: i64, name: &str, text: &str) -> Value {
    json!({"update_id": update, "message": {"message_id": update, "date": T0 - 60,
        "chat": {"id": -1009, "type": "supergroup", "title": "打卡群"}, "from": tg_user(from, name), "text": text}})
}

async fn check_ins(app: &TestApp) -> Vec<Value> {
    let r = app.get("/v1/events?type=checked_in&limit=200").await;
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_telegram_keyword_checks_in_once_and_the_bot_replies_in_the_group() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let conn = telegram(&app, &fake).await;
    let url = format!("/hooks/telegram/{conn}");
    let reply = content(
        &app,
        "{{member.display_name}} 签到成功：连续{{checkin.streak}}天，共{{checkin.total_days}}天，+{{checkin.points_awarded}}，余额{{points.balance}}",
    )
    .await;
    let c = campaign(&app, json!({"points": 5, "keywords": ["签到", "/checkin"], "reply_content_id": reply})).await;

    assert_eq!(tg(&app, &url, "s1", tg_msg(1, 42, "Lily", " 签到 ")).await, StatusCode::OK);
    // The same update again (Telegram retries), the command form, and a chat message.
    assert_eq!(tg(&app, &url, "s1", tg_msg(1, 42, "Lily", " 签到 ")).await, StatusCode::OK);
    assert_eq!(tg(&app, &url, "s1", tg_msg(2, 42, "Lily", "/checkin@ShequnBot")).await, StatusCode::OK);
    assert_eq!(tg(&app, &url, "s1", tg_msg(3, 43, "Bob", "签到了吗？")).await, StatusCode::OK);
    let list = app.get(&format!("/v1/campaigns/{c}/check-ins")).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!((items[0]["channel"].as_str(), items[0]["points_awarded"].as_i64()), (Some("chat"), Some(5)));
    let member = items[0]["member_id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &member).await, 5);
    let events = check_ins(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0]["campaign_id"].as_str(), events[0]["source"].as_str()), (Some(c.as_str()), Some("telegram")));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE properties::text LIKE '%签到%'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the message text is not stored");

    assert_eq!(send(&app).await, 1);
    let sent: Vec<_> = fake.seen().into_iter().filter(|s| s.path.ends_with("/sendMessage")).collect();
    assert_eq!(sent.len(), 1, "one reply for one check-in");
    assert_eq!(sent[0].body["chat_id"], "-1009");
    assert_eq!(sent[0].body["text"], "Lily 签到成功：连续1天，共1天，+5，余额5");
    let d = app.get("/v1/deliveries?state=sent").await;
    assert_eq!(d.body["items"][0]["check_in_id"], items[0]["id"]);
    assert!(d.body["items"][0]["plan_id"].is_null());
}

#[tokio::test]
async fn slack_feishu_and_generic_messages_check_in_too_but_the_events_api_does_not() {
    let app = TestApp::spawn().await;
    let c = campaign(&app, json!({"points": 1, "keywords": ["打卡", "checkin"]})).await;

    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let slack = connect(&app, "slack", json!({"signing_secret": secret})).await;
    let b = slack_event(
        "Ev9",
        json!({"type": "message", "user": "U2", "text": "<@U0BOT> CheckIn", "channel": "C1",
        "ts": "1763604000.000100", "channel_type": "channel"}),
    );
    assert_eq!(raw(&app, Method::POST, &slack, &slack_headers(secret, T0, &b), b.clone()).await.0, StatusCode::OK);

    let key = "lark-encrypt-key";
    let feishu =
        connect(&app, "feishu", json!({"app_id": "cli_a1", "verification_token": "vtok", "encrypt_key": key})).await;
    let ev = lark_event(
        "e9",
        "im.message.receive_v1",
        json!({"sender": {"sender_id": {"open_id": "ou_lily"}, "sender_type": "user"},
               "message": {"message_id": "om_9", "chat_id": "oc_9", "chat_type": "group", "message_type": "text",
                           "content": "{\"text\":\"@_user_1 打卡\"}"}}),
        "vtok",
    );
    let (headers, body) = lark(key, &ev, T0, "n9");
    assert_eq!(raw(&app, Method::POST, &feishu, &headers, body).await.0, StatusCode::OK);

    let gsecret = "0123456789abcdef-secret";
    let generic = connect(&app, "generic", json!({"secret": gsecret})).await;
    let body = serde_json::to_vec(&json!([{"id": "m-1", "type": "message_sent", "occurred_at": "2026-11-20T01:59:00Z",
        "member": {"platform": "generic", "external_id": "u-1"}, "group": {"platform": "generic", "external_id": "g-1"},
        "properties": {"text": "打卡"}}]))
    .unwrap();
    assert_eq!(raw(&app, Method::POST, &generic, &generic_headers(gsecret, T0, &body), body).await.0, StatusCode::OK);

    // Through the events API a message is only a message.
    let api = app
        .post("/v1/events", json!([{"id": "m-2", "type": "message_sent", "occurred_at": "2026-11-20T01:59:00Z",
            "member": {"platform": "generic", "external_id": "u-2"}, "group": {"platform": "generic", "external_id": "g-1"},
            "properties": {"text": "打卡"}}]))
        .await;
    assert!(api.status.is_success(), "{:?}", api.body);
    assert_eq!(api.body["accepted"], 1, "{:?}", api.body);

    let list = app.get(&format!("/v1/campaigns/{c}/check-ins")).await;
    let channels: Vec<_> = list.body["items"].as_array().unwrap().iter().map(|i| i["channel"].clone()).collect();
    assert_eq!(channels, [json!("chat"), json!("chat"), json!("chat")], "{:?}", list.body);
    let sources: Vec<String> = check_ins(&app).await.iter().map(|e| e["source"].as_str().unwrap().to_owned()).collect();
    let mut sorted = sources.clone();
    sorted.sort();
    assert_eq!(sorted, ["feishu", "generic", "slack"]);
}

/// An intelligent robot's callback: the JSON envelope, signed, encrypted
/// with an empty receive id (a corp id works too).
fn wecom_robot(inner: &Value, receive_id: &str, nonce: &str) -> (String, Vec<u8>) {
    use shequn::platforms::wecom::crypto::{wecom_encrypt, wecom_signature};
    let plain = serde_json::to_vec(inner).unwrap();
    let encrypt = wecom_encrypt(WECOM_KEY, &plain, receive_id, [7; 16]).unwrap();
    let ts = T0.to_string();
    let sig = wecom_signature(WECOM_TOKEN, &ts, nonce, &encrypt);
    let body = serde_json::to_vec(&json!({"encrypt": encrypt})).unwrap();
    (format!("?msg_signature={sig}&timestamp={ts}&nonce={nonce}"), body)
}

#[tokio::test]
async fn a_wecom_robot_mention_with_the_keyword_checks_in() {
    let app = TestApp::spawn().await;
    let c = campaign(&app, json!({"points": 2})).await;
    let url = wecom_connection(&app).await;
    let msg = |id: &str, text: &str| {
        json!({"msgid": id, "aibotid": "AIBOT1", "chatid": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "chattype": "group",
               "from": {"userid": "zhangsan"}, "response_url": "https://example.invalid/r", "msgtype": "text",
               "text": {"content": text}})
    };
    let (q, body) = wecom_robot(&msg("m1", "@打卡助手 签到"), "", "n1");
    assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body.clone()).await.0, StatusCode::OK);
    // WeCom retries the same message: one check-in.
    assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await.0, StatusCode::OK);
    let (q, body) = wecom_robot(&msg("m2", "@打卡助手 今天天气不错"), WECOM_CORP, "n2");
    assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await.0, StatusCode::OK);
    // A wrong signature stores nothing.
    let (q, body) = wecom_robot(&msg("m3", "签到"), "", "n3");
    let forged = q.replace("msg_signature=", "msg_signature=0");
    assert_eq!(raw(&app, Method::POST, &format!("{url}{forged}"), &[], body).await.0, StatusCode::UNAUTHORIZED);

    let list = app.get(&format!("/v1/campaigns/{c}/check-ins")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{:?}", list.body);
    let kinds: Vec<String> = app.get("/v1/events").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "message_sent").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "checked_in").count(), 1);
}
