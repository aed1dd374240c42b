//! 0-yuan lotteries: the commitment published before any entry, entries
//! from entering and from qualified invites (taken back when an invite is
//! rejected), the draw run once by two instances at once, recomputed here
//! independently from the published list and seed, prizes delivered once,
//! unawarded prizes, a late draw, live post variables and tenancy.

use chrono::Duration;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shequn::clock::Clock;

use crate::checkin::{balance, member};
use crate::helpers::TestApp;

async fn lottery(app: &TestApp, settings: Value) -> String {
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "周末0元抽奖", "scene": "fission", "kind": "lottery", "settings": settings}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.id();
    assert_eq!(
        app.post(&format!("/v1/campaigns/{id}/status"), json!({"status": "running"})).await.status,
        StatusCode::OK
    );
    id
}

async fn enter(app: &TestApp, l: &str, m: &str) -> (StatusCode, Value) {
    let r = app.post(&format!("/v1/lotteries/{l}/entries"), json!({"member_id": m})).await;
    (r.status, r.body)
}

/// Recomputes the winners from the entry list and the seed alone (the rule
/// of docs/lottery.md), as a participant would.
fn recompute(seed_hex: &str, list: &str, quantities: &[usize], one_each: bool) -> Vec<(String, usize)> {
    let seed = hex::decode(seed_hex).unwrap();
    let mut ranked: Vec<([u8; 32], &str)> = list
        .lines()
        .map(|l| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&seed).unwrap();
            mac.update(l.as_bytes());
            (mac.finalize().into_bytes().into(), l)
        })
        .collect();
    ranked.sort();
    let slots: Vec<usize> = quantities.iter().enumerate().flat_map(|(p, q)| std::iter::repeat_n(p, *q)).collect();
    let mut won = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (_, line) in ranked {
        if out.len() == slots.len() {
            break;
        }
        let member = line.split(':').next().unwrap().to_owned();
        if one_each && !won.insert(member.clone()) {
            continue;
        }
        out.push((line.to_owned(), slots[out.len()]));
    }
    out
}

#[tokio::test]
async fn a_lottery_commits_first_draws_once_and_its_winners_can_be_recomputed() {
    let app = TestApp::spawn().await;
    let hook = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/h", "event_types": ["lottery.prize_won"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED);
    let g = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": "-900", "name": "抽奖群",
                                            "invite_url": "https://t.me/+l"}),
        )
        .await
        .id();
    let t = app
        .post(
            "/v1/coupon-templates",
            json!({"name": "无门槛券", "discount": {"kind": "amount_off", "amount": 300},
              "validity": {"kind": "after_claim", "days": 7}}),
        )
        .await
        .id();
    let l = lottery(
        &app,
        json!({"draw_at": "2026-11-21T20:00",
        "prizes": [{"name": "一等奖 空气炸锅", "quantity": 1, "reward": {"goods": "air fryer"}},
                   {"name": "二等奖 无门槛券", "quantity": 2, "reward": {"coupon_template_id": t}},
                   {"name": "三等奖", "quantity": 3, "reward": {"points": 50}}],
        "entries": {"per_member": 1, "per_qualified_invite": 2, "max_per_member": 4},
        "invites": {"hold_hours": 1}}),
    )
    .await;

    // The commitment is there before any entry, and does not change.
    let before = app.get(&format!("/v1/lotteries/{l}")).await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
    let commitment = before.body["commitment"].as_str().unwrap().to_owned();
    assert_eq!(
        (commitment.len(), before.body["entries"].as_i64(), before.body["status"].as_str()),
        (64, Some(0), Some("open"))
    );
    assert_eq!(before.body["draw_at"], "2026-11-21T12:00:00Z", "20:00 in Shanghai");
    let draw = app.get(&format!("/v1/lotteries/{l}/draw")).await;
    assert_eq!((draw.status, &draw.body["status"], &draw.body["seed"]), (StatusCode::OK, &json!("open"), &Value::Null));
    assert_eq!(draw.body["commitment"], json!(commitment));

    let mut members = Vec::new();
    for i in 0..8 {
        let m = member(&app, &format!("张{i}")).await;
        let (s, b) = enter(&app, &l, &m).await;
        assert_eq!((s, b["entries"].as_i64()), (StatusCode::CREATED, Some(1)), "{b}");
        members.push(m);
    }
    assert_eq!(enter(&app, &l, &members[0]).await.0, StatusCode::OK, "entering twice adds nothing");
    // Invites through the lottery's own code earn entries once qualified.
    let code = app.post(&format!("/v1/campaigns/{l}/invite-codes"), json!({"member_id": members[0]})).await.body
        ["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut friends = Vec::new();
    for i in 0..3 {
        let f = member(&app, &format!("友{i}")).await;
        let e = json!([{"id": format!("f{i}"), "type": "member_joined", "occurred_at": app.clock.now(), "member_id": f,
                        "group_id": g, "channel": code}]);
        assert_eq!(app.post("/v1/events", e).await.body["accepted"], 1);
        friends.push(f);
    }
    app.clock.advance(Duration::hours(2));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(enter(&app, &l, &members[0]).await.1["entries"], 4, "1 + 3 invites × 2, capped at 4");
    // Two invites rejected before the draw take their entries back.
    let refs = app.get(&format!("/v1/campaigns/{l}/referrals?inviter_id={}", members[0])).await.body["items"].clone();
    for r in refs.as_array().unwrap().iter().take(2) {
        let id = r["id"].as_str().unwrap();
        assert_eq!(app.post(&format!("/v1/referrals/{id}/reject"), json!({})).await.status, StatusCode::OK);
    }
    let mine = enter(&app, &l, &members[0]).await.1;
    assert_eq!((&mine["entries"], &mine["qualified_invites"]), (&json!(3), &json!(1)));
    assert_eq!(app.get(&format!("/v1/lotteries/{l}")).await.body["commitment"], json!(commitment));

    // The draw time comes: two instances at once draw once.
    app.clock.advance(Duration::hours(36));
    let late = enter(&app, &l, &friends[0]).await;
    assert_eq!((late.0, late.1["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("closed")));
    let now = app.clock.now();
    let r = &app.state.ingestion.reactions;
    let (a, b) = tokio::join!(
        shequn::lotteries::service::run_due(&app.pool, now, r),
        shequn::lotteries::service::run_due(&app.pool, now, r)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    assert_eq!(app.count("lottery_winners").await, 6);

    let d = app.get(&format!("/v1/lotteries/{l}/draw")).await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    let seed = d.body["seed"].as_str().unwrap();
    assert_eq!(hex::encode(Sha256::digest(hex::decode(seed).unwrap())), commitment, "the seed is the one committed to");
    assert_eq!(
        (d.body["entry_count"].as_i64(), d.body["late"].as_bool()),
        (Some(10), Some(true)),
        "7 + 3, drawn hours late"
    );
    let list = app
        .client
        .get(format!("{}{}", app.base, d.body["entries_url"].as_str().unwrap()))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(list.lines().count(), 10);
    assert_eq!(hex::encode(Sha256::digest(list.as_bytes())), d.body["entries_digest"].as_str().unwrap());
    let expected = recompute(seed, &list, &[1, 2, 3], true);
    let got: Vec<(String, usize)> = d.body["winners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                format!("{}:{}", w["member_id"].as_str().unwrap(), w["entry_no"]),
                w["prize_index"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, expected);
    documented_script_agrees(seed, &commitment, &list, &got, d.body["entries_digest"].as_str().unwrap());
    assert!(d.body["winners"].as_array().unwrap().iter().all(|w| w["masked_name"].as_str().unwrap().ends_with("**")));

    // Prizes delivered once: points, coupons, and a webhook per winner.
    for w in d.body["winners"].as_array().unwrap() {
        let m = w["member_id"].as_str().unwrap();
        match w["prize_index"].as_i64().unwrap() {
            2 => assert_eq!(balance(&app, m).await, 50),
            1 => assert_eq!(
                app.get(&format!("/v1/coupons?member_id={m}")).await.body["items"].as_array().unwrap().len(),
                1
            ),
            _ => assert_eq!(w["delivered"]["goods"], "air fryer"),
        }
    }
    let won: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_messages WHERE type = 'lottery.prize_won'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(won, 6);

    // The announcement and warm-up variables.
    let content = app
        .post(
            "/v1/contents",
            json!({"name": "开奖", "kind": "text",
        "text": "承诺 {{lottery.commitment}}\n{{lottery.winners}}"}),
        )
        .await
        .id();
    let p = app.get(&format!("/v1/contents/{content}/preview?campaign_id={l}")).await;
    let text = p.body["message"]["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains(&commitment) && text.contains("** 一等奖 空气炸锅"), "{:?}", p.body);

    // Tenancy.
    let other = app.other_workspace("other").await;
    for path in
        [format!("/v1/lotteries/{l}"), format!("/v1/lotteries/{l}/draw"), format!("/v1/lotteries/{l}/draw/entries")]
    {
        assert_eq!(app.send(Method::GET, &path, Some(&other), None).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn fewer_entries_than_prizes_leave_prizes_unawarded_and_bad_lotteries_are_refused() {
    let app = TestApp::spawn().await;
    let l = lottery(&app, json!({"draw_at": "2026-11-20T12:00",
        "prizes": [{"name": "A", "quantity": 1, "reward": {"points": 5}}, {"name": "B", "quantity": 2, "reward": {"points": 1}}]}))
    .await;
    let m = member(&app, "Solo").await;
    assert_eq!(enter(&app, &l, &m).await.0, StatusCode::CREATED);
    app.clock.advance(Duration::hours(2) + Duration::seconds(30));
    shequn::jobs::run_campaign_jobs_once(&app.state).await.unwrap();
    let d = app.get(&format!("/v1/lotteries/{l}/draw")).await;
    assert_eq!(d.body["winners"].as_array().unwrap().len(), 1, "{:?}", d.body);
    assert_eq!(d.body["unawarded"], json!([{"prize_index": 1, "prize": "B", "quantity": 2}]));
    assert_eq!(d.body["late"], false, "drawn 30 s after draw_at");
    for bad in [
        json!({"draw_at": "2026-13-01T20:00"}),
        json!({"prizes": [{"name": "x", "quantity": 0, "reward": {"points": 1}}]}),
        json!({"prizes": [{"name": "x", "quantity": 1, "reward": {"points": 1, "goods": "y"}}]}),
        json!({"entries": {"max_per_member": 0}}),
        json!({"eligible": {}}),
        json!({"bogus": 1}),
    ] {
        let r = app
            .post("/v1/campaigns", json!({"name": "bad", "scene": "fission", "kind": "lottery", "settings": bad}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", r.body);
    }
    let plain = app.post("/v1/campaigns", json!({"name": "p", "scene": "activity", "kind": "content"})).await.id();
    assert_eq!(app.get(&format!("/v1/lotteries/{plain}")).await.status, StatusCode::NOT_FOUND);
}

/// Runs the script of docs/lottery.md on the published seed and list: it
/// must print the same digest and winners (skipped without python3).
fn documented_script_agrees(seed: &str, commitment: &str, list: &str, winners: &[(String, usize)], digest: &str) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/lottery.md")).unwrap();
    let script = doc.split("```python\n").nth(1).and_then(|s| s.split("\n```").next()).unwrap();
    let dir = std::env::temp_dir().join(format!("lottery-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("verify.py"), script).unwrap();
    std::fs::write(dir.join("entries.txt"), list).unwrap();
    let out = std::process::Command::new("python3")
        .arg(dir.join("verify.py"))
        .args([seed, commitment, "1,2,3"])
        .arg(dir.join("entries.txt"))
        .output();
    let Ok(out) = out else {
        eprintln!("SKIPPED: no python3 to run docs/lottery.md's script");
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(format!("entries_digest {digest}").as_str()));
    let printed: Vec<String> = lines.map(str::to_owned).collect();
    let want: Vec<String> = winners.iter().map(|(l, p)| format!("{p} {l}")).collect();
    assert_eq!(printed, want);
}
