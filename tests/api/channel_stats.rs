//! Channel attribution and stats: the Telegram invite link made for a
//! channel (through a fake Bot API) and the `chat_member` join naming it,
//! WeCom's `state`, the generic `channel`; visits, joins, members still in
//! after 7 days, orders and GMV per day and group; CSV; tenancy.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::sop::Fake;
use crate::webhooks::{chat_change, raw, tg, tg_user, wecom_post, T0, WECOM_CORP, WECOM_KEY, WECOM_TOKEN};

async fn visit(app: &TestApp, code: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(format!("{}/c/{code}", app.base)).send().await.unwrap();
    let to = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (r.status(), to.unwrap_or_default())
}

/// The channel of the member's stints in `group` (one stint expected).
async fn channel_of(app: &TestApp, group: &str, external_id: &str) -> Value {
    let r = app.get(&format!("/v1/groups/{group}/members?include=history&limit=100")).await;
    let items = r.body["items"].as_array().unwrap().clone();
    let members = app.get(&format!("/v1/members?external_id={external_id}")).await.body["items"][0]["id"].clone();
    let m: Vec<&Value> = items.iter().filter(|s| s["member_id"] == members).collect();
    assert_eq!(m.len(), 1, "{items:?}");
    m[0]["channel_id"].clone()
}

#[tokio::test]
async fn joins_through_a_channel_are_attributed_on_every_platform_and_counted_in_its_stats() {
    let app = TestApp::spawn().await;
    let fake = Fake::start().await;
    let tg_conn = crate::sop::telegram(&app, &fake).await;
    let hook = format!("/hooks/telegram/{tg_conn}");
    let g = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-100777", "name": "地推群"})).await;
    let group = g.id();
    let r = app
        .post("/v1/channels", json!({"name": "地推 Street", "source": "offline", "target": {"group_ids": [group]}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (channel, code) = (r.id(), r.body["code"].as_str().unwrap().to_owned());

    // The first visit makes the channel's own Telegram link; later ones reuse it.
    fake.then(200, vec![], json!({"ok": true, "result": {"invite_link": "https://t.me/+CHAN1", "name": "x"}}));
    assert_eq!(visit(&app, &code).await, (StatusCode::FOUND, "https://t.me/+CHAN1".into()));
    assert_eq!(visit(&app, &code).await, (StatusCode::FOUND, "https://t.me/+CHAN1".into()));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "one link per channel and group");
    assert_eq!(seen[0].path, "/bot123:SECRET/createChatInviteLink");
    let name = seen[0].body["name"].as_str().unwrap().to_owned();
    assert_eq!((seen[0].body["chat_id"].as_str(), name.starts_with(&format!("{code} 地推"))), (Some("-100777"), true));

    // Telegram: the chat_member update names the link.
    let chat = json!({"id": -100777, "type": "supergroup", "title": "地推群"});
    let join = json!({"update_id": 1, "chat_member": {"chat": chat, "from": tg_user(42, "Lily"), "date": T0 - 3600,
        "old_chat_member": {"status": "left", "user": tg_user(42, "Lily")},
        "new_chat_member": {"status": "member", "user": tg_user(42, "Lily")},
        "invite_link": {"invite_link": "https://t.me/+CHAN1", "name": name, "creator": tg_user(1, "bot"),
                        "creates_join_request": false, "is_primary": false, "is_revoked": false}}});
    assert_eq!(tg(&app, &hook, "s1", join).await, StatusCode::OK);
    assert_eq!(channel_of(&app, &group, "42").await, json!(channel));
    let stints = app.get(&format!("/v1/groups/{group}/members?include=history")).await.body["items"].clone();
    assert_eq!(stints[0]["source"], "offline", "the channel's source: {stints}");

    // Generic: `channel` on member_joined (the code), and a join naming no channel.
    let e = json!([
        {"id": "j-43", "type": "member_joined", "occurred_at": "2026-11-20T01:10:00Z", "channel": code,
         "member": {"platform": "telegram", "external_id": "43"}, "group_id": group},
        {"id": "j-44", "type": "member_joined", "occurred_at": "2026-11-20T01:11:00Z",
         "member": {"platform": "telegram", "external_id": "44"}, "group_id": group}]);
    assert_eq!(app.post("/v1/events", e).await.body["accepted"], 2);
    assert_eq!(channel_of(&app, &group, "43").await, json!(channel));
    assert_eq!(channel_of(&app, &group, "44").await, Value::Null);
    let long = "x".repeat(201);
    let bad = app
        .post(
            "/v1/events",
            json!([{"id": "j-45", "type": "member_joined", "occurred_at": "2026-11-20T01:11:00Z",
        "channel": long, "member": {"platform": "telegram", "external_id": "45"}, "group_id": group}]),
        )
        .await;
    assert_eq!(bad.body["rejected"], 1, "{:?}", bad.body);

    // WeCom: the callback does not say; groupchat/get gives the join way's state.
    let r = app
        .post(
            "/v1/connections",
            json!({"platform": "wecom", "name": "wecom", "settings": {"api_base_url": fake.base},
              "credentials": {"corp_id": WECOM_CORP, "token": WECOM_TOKEN, "encoding_aes_key": WECOM_KEY,
                              "secret": "contact-secret"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let url = r.body["webhook_url"].as_str().unwrap().to_owned();
    let t = T0 - 1200;
    for (i, inner) in [
        chat_change("wrChan", "create", "", "", t),
        chat_change("wrChan", "update", "add_member",
            "<JoinScene>3</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>wmS</Item><Item>wmT</Item></MemChangeList>", t + 1),
    ]
    .iter()
    .enumerate()
    {
        let (q, body) = wecom_post(inner, WECOM_CORP, &(t + i as i64).to_string(), "n1");
        assert_eq!(raw(&app, Method::POST, &format!("{url}{q}"), &[], body).await.0, StatusCode::OK);
    }
    let wg = app.get("/v1/groups?platform=wecom").await.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(channel_of(&app, &wg, "wmS").await, Value::Null, "not known before the lookup");
    // The lookup fails once (WeCom busy), then reads the state: only wmS came through the channel.
    fake.then(200, vec![], json!({"errcode": 0, "access_token": "TOKEN", "expires_in": 7200}));
    fake.then(200, vec![], json!({"errcode": -1, "errmsg": "system busy"}));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(channel_of(&app, &wg, "wmS").await, Value::Null);
    app.clock.advance(Duration::minutes(2));
    fake.then(
        200,
        vec![],
        json!({"errcode": 0, "group_chat": {"chat_id": "wrChan", "member_list": [
        {"userid": "wmS", "type": 2, "join_scene": 3, "state": code}, {"userid": "wmT", "type": 2, "join_scene": 3}]}}),
    );
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(channel_of(&app, &wg, "wmS").await, json!(channel));
    assert_eq!(channel_of(&app, &wg, "wmT").await, Value::Null);
    let calls: Vec<String> = fake.seen().iter().map(|s| s.path.clone()).collect();
    assert!(calls[1].starts_with("/cgi-bin/gettoken?corpid="), "{calls:?}");
    assert!(calls[2].starts_with("/cgi-bin/externalcontact/groupchat/get?access_token=TOKEN"), "{calls:?}");
    assert!(calls[3].starts_with("/cgi-bin/externalcontact/groupchat/get"), "the token is reused: {calls:?}");
    assert_eq!(app.count("wecom_join_lookups").await, 0);

    // One leaves within the week; one pays and is partly refunded.
    let e = json!([
        {"id": "l-43", "type": "member_left", "occurred_at": "2026-11-21T01:00:00Z",
         "member": {"platform": "telegram", "external_id": "43"}, "group_id": group},
        {"id": "o-1", "type": "order_paid", "occurred_at": "2026-11-20T01:30:00Z", "order_id": "A1", "amount": 5000,
         "currency": "CNY", "member": {"platform": "telegram", "external_id": "42"}, "group_id": group},
        {"id": "o-2", "type": "order_refunded", "occurred_at": "2026-11-20T01:40:00Z", "order_id": "A1", "amount": 1200,
         "currency": "CNY", "member": {"platform": "telegram", "external_id": "42"}, "group_id": group},
        {"id": "o-3", "type": "order_paid", "occurred_at": "2026-11-20T01:30:00Z", "order_id": "B1", "amount": 9900,
         "currency": "CNY", "member": {"platform": "telegram", "external_id": "44"}, "group_id": group}]);
    assert_eq!(app.post("/v1/events", e).await.body["accepted"], 4);

    let s = app.get(&format!("/v1/channels/{channel}/stats")).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let total = &s.body["total"];
    assert_eq!(
        [
            &total["visits"],
            &total["full_visits"],
            &total["joins"],
            &total["retained_7d"],
            &total["retained_7d_pending"]
        ],
        [&json!(2), &json!(0), &json!(3), &json!(0), &json!(2)],
        "{total}"
    );
    assert_eq!(
        (&total["orders"], &total["gmv"]),
        (&json!(1), &json!(3800)),
        "the unattributed member's order is not counted"
    );
    assert_eq!((s.body["days"].as_array().unwrap().len(), s.body["to"].as_str()), (30, Some("2026-11-20")));
    let today = s.body["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&today["joins"], &today["visits"]), (&json!(3), &json!(2)));
    let groups = s.body["groups"].as_array().unwrap();
    let tg_row = groups.iter().find(|g| g["group_id"] == json!(group)).unwrap();
    let wc_row = groups.iter().find(|g| g["group_id"] == json!(wg)).unwrap();
    assert_eq!((&tg_row["joins"], &tg_row["visits"], &tg_row["gmv"]), (&json!(2), &json!(2), &json!(3800)));
    assert_eq!((&wc_row["joins"], &wc_row["visits"]), (&json!(1), &json!(0)));

    // A week on, the two still in are retained.
    app.clock.advance(Duration::days(8));
    let s = app.get(&format!("/v1/channels/{channel}/stats?from=2026-11-20&to=2026-11-20")).await;
    assert_eq!((&s.body["total"]["retained_7d"], &s.body["total"]["retained_7d_pending"]), (&json!(2), &json!(0)));
    let csv = app
        .client
        .get(format!("{}/v1/channels/{channel}/stats?format=csv&from=2026-11-20&to=2026-11-20", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "day,group_id,visits,full_visits,joins,retained_7d,retained_7d_pending,orders,gmv");
    assert!(lines.contains(&format!("2026-11-20,{group},2,0,2,1,0,1,3800").as_str()), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");

    for bad in ["from=2026-12-01&to=2026-11-01", "from=2020-01-01&to=2026-11-01", "to=3000-01-01", "format=xml", "x=1"]
    {
        let r = app.get(&format!("/v1/channels/{channel}/stats?{bad}")).await;
        assert!(r.status.is_client_error(), "{bad}: {:?}", r.body);
    }
    let other = app.other_workspace("other").await;
    let r = app.send(Method::GET, &format!("/v1/channels/{channel}/stats"), Some(&other), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
