//! Check-in campaigns: one check-in per local day under concurrency, days
//! in the group's or workspace's timezone, streaks and bonuses, makeups.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;

use crate::helpers::{Resp, TestApp};

/// A member of the app's workspace.
pub(crate) async fn member(app: &TestApp, name: &str) -> String {
    let r = app.post("/v1/members", json!({"display_name": name})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

/// A running check-in campaign with `settings`, started an hour before the clock.
pub(crate) async fn campaign(app: &TestApp, settings: Value) -> String {
    let starts = app.clock.now() - Duration::hours(1);
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "daily check-in", "scene": "activity", "kind": "check_in", "starts_at": starts,
                   "settings": settings}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.id();
    let s = app.post(&format!("/v1/campaigns/{id}/status"), json!({"status": "running"})).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    id
}

pub(crate) async fn check_in(app: &TestApp, campaign: &str, body: Value) -> Resp {
    app.post(&format!("/v1/campaigns/{campaign}/check-ins"), body).await
}

pub(crate) async fn balance(app: &TestApp, member: &str) -> i64 {
    let r = app.get(&format!("/v1/members/{member}/points")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["balance"].as_i64().unwrap()
}

/// Every entry of a member's ledger, newest first (all pages).
pub(crate) async fn ledger(app: &TestApp, member: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app.get(&format!("/v1/members/{member}/points/ledger?limit=200{cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// The ledger sums to the balance and each entry's `balance_after` follows
/// from the one before.
pub(crate) async fn assert_ledger_consistent(app: &TestApp, member: &str) {
    let entries = ledger(app, member).await;
    let mut running = 0;
    for e in entries.iter().rev() {
        running += e["delta"].as_i64().unwrap();
        assert_eq!(e["balance_after"].as_i64().unwrap(), running, "{entries:#?}");
    }
    assert_eq!(balance(app, member).await, running);
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn concurrent_check_ins_of_one_member_make_one_check_in_and_one_credit() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Ann").await;
    let c = campaign(&app, json!({"points": 10})).await;
    let tries = (0..20).map(|_| check_in(&app, &c, json!({"member_id": m})));
    let answers = join_all(tries).await;
    let created: Vec<&Resp> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(created.len(), 1, "{answers:#?}");
    let first = created[0].id();
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_checked_in"), "{:?}", r.body);
        assert_eq!(r.body["error"]["check_in"]["id"], first.as_str());
    }
    assert_eq!(created[0].body["points_awarded"], 10);
    assert_eq!(created[0].body["balance"], 10);
    assert_eq!(created[0].body["total_days"], 1);
    assert_eq!(balance(&app, &m).await, 10);
    assert_eq!(ledger(&app, &m).await.len(), 1);
    assert_ledger_consistent(&app, &m).await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'checked_in'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(events, 1, "each check-in is one checked_in event");
}

#[tokio::test]
async fn a_burst_of_check_ins_shares_transactions_and_answers_each_exactly() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T01:00:00Z")); // 09:00 Shanghai
    let c = campaign(&app, json!({"points": 10, "streak_rewards": [{"day": 2, "points": 5}]})).await;
    let mut ms = Vec::new();
    for i in 0..40 {
        ms.push(member(&app, &format!("m{i}")).await);
    }
    for m in &ms[..20] {
        assert_eq!(check_in(&app, &c, json!({"member_id": m})).await.status, StatusCode::CREATED);
    }
    // The first member owes 7 points (a clawback after a refund).
    let debtor: uuid::Uuid = ms[0].parse().unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE points_accounts SET balance = -7 WHERE member_id = $1")
        .bind(debtor)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE points_lots SET remaining = 0 WHERE member_id = $1")
        .bind(debtor)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type, source_id,
             occurred_at)
         SELECT workspace_id, $2, member_id, -17, -7, 'clawback', 'refund', 'o-1', $3 FROM points_accounts
         WHERE member_id = $1",
    )
    .bind(debtor)
    .bind(uuid::Uuid::now_v7())
    .bind(app.clock.now())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.clock.advance(Duration::days(1));

    // Everyone at once, the second member three times, a stranger and an unknown group.
    let mut bodies: Vec<Value> = ms.iter().map(|m| json!({"member_id": m})).collect();
    bodies.push(json!({"member_id": ms[1]}));
    bodies.push(json!({"member_id": ms[1]}));
    bodies.push(json!({"member_id": uuid::Uuid::now_v7()}));
    bodies.push(json!({"member_id": ms[39], "group_id": uuid::Uuid::now_v7()}));
    let answers = join_all(bodies.into_iter().map(|b| check_in(&app, &c, b))).await;
    for (i, r) in answers[..40].iter().enumerate() {
        let first = i < 20;
        if i == 1 && r.status == StatusCode::CONFLICT {
            continue;
        }
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {:?}", r.body);
        assert_eq!(r.body["streak"], if first { 2 } else { 1 }, "{i}");
        assert_eq!(r.body["total_days"], if first { 2 } else { 1 }, "{i}");
        assert_eq!(r.body["points_awarded"], if first { 15 } else { 10 }, "{i}");
        assert_eq!(r.body["rewards"].as_array().unwrap().len(), usize::from(first), "{i}");
        let expected = match i {
            0 => 8,
            _ if first => 25,
            _ => 10,
        };
        assert_eq!(r.body["balance"], expected, "{i}");
    }
    let second: Vec<StatusCode> = [1, 40, 41].iter().map(|&i| answers[i].status).collect();
    assert_eq!(second.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{second:?}");
    assert_eq!(second.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 2, "{second:?}");
    assert_eq!((answers[42].status, answers[42].field()), (StatusCode::NOT_FOUND, "member_id"));
    assert_eq!((answers[43].status, answers[43].field()), (StatusCode::NOT_FOUND, "group_id"));
    for m in &ms {
        assert_ledger_consistent(&app, m).await;
    }
    // The debt was paid first: only what is left of each credit is a lot.
    let lots: Vec<i64> =
        sqlx::query_scalar("SELECT remaining FROM points_lots WHERE member_id = $1 AND remaining > 0 ORDER BY id")
            .bind(debtor)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(lots, [3, 5]);
    let (rows, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM check_ins WHERE day = '2026-12-02'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows, 40);
    assert!(transactions < rows, "{rows} check-ins in {transactions} transactions: none shared");
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'checked_in'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(events, 60);
}

#[tokio::test]
async fn a_late_check_in_joins_the_runs_around_it_and_the_next_day_continues_them() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T01:00:00Z"));
    let m = member(&app, "Lu").await;
    let c = campaign(&app, json!({"points": 10})).await;
    assert_eq!(check_in(&app, &c, json!({"member_id": m})).await.body["streak"], 1);
    app.clock.set(at("2026-12-03T01:00:00Z"));
    assert_eq!(check_in(&app, &c, json!({"member_id": m})).await.body["streak"], 1);
    // An integration's queued check-in of the 2nd (20:00 Shanghai) arrives late.
    let late = check_in(&app, &c, json!({"member_id": m, "at": "2026-12-02T12:00:00Z"})).await;
    assert_eq!(late.status, StatusCode::CREATED, "{:?}", late.body);
    assert_eq!((late.body["day"].as_str(), late.body["streak"].as_i64()), (Some("2026-12-02"), Some(2)));
    // The 3rd now continues the run, and so does the 4th.
    app.clock.set(at("2026-12-04T01:00:00Z"));
    let next = check_in(&app, &c, json!({"member_id": m})).await;
    assert_eq!((next.body["streak"].as_i64(), next.body["total_days"].as_i64()), (Some(4), Some(4)), "{:?}", next.body);
    let cal = app.get(&format!("/v1/members/{m}/check-ins?campaign_id={c}&month=2026-12")).await;
    let streaks: Vec<Value> = cal.body["days"].as_array().unwrap()[..4].iter().map(|d| d["streak"].clone()).collect();
    assert_eq!(streaks, [json!(1), json!(2), json!(3), json!(4)]);
    assert_eq!(cal.body["current_streak"], 4);
}

#[tokio::test]
async fn shanghai_midnight_splits_days_and_a_four_oclock_start_keeps_the_small_hours() {
    let app = TestApp::spawn().await; // workspace timezone Asia/Shanghai
    app.clock.set(at("2026-12-03T15:00:00Z"));
    let m = member(&app, "Bo").await;
    let c = campaign(&app, json!({"points": 1})).await;
    app.clock.set(at("2026-12-03T16:05:00Z"));
    // 23:59:30 and 00:00:30 in Shanghai are two days.
    let a = check_in(&app, &c, json!({"member_id": m, "at": "2026-12-03T15:59:30Z"})).await;
    assert_eq!((a.status, a.body["day"].as_str()), (StatusCode::CREATED, Some("2026-12-03")), "{:?}", a.body);
    let b = check_in(&app, &c, json!({"member_id": m, "at": "2026-12-03T16:00:30Z"})).await;
    assert_eq!((b.status, b.body["day"].as_str()), (StatusCode::CREATED, Some("2026-12-04")), "{:?}", b.body);
    assert_eq!(b.body["streak"], 2);

    let early = campaign(&app, json!({"points": 1, "day_starts_at": "04:00"})).await;
    app.clock.set(at("2026-12-04T20:30:00Z"));
    // 03:59 on 5 Dec belongs to 4 Dec; 04:00 starts 5 Dec.
    let x = check_in(&app, &early, json!({"member_id": m, "at": "2026-12-04T19:59:00Z"})).await;
    assert_eq!(x.body["day"], "2026-12-04", "{:?}", x.body);
    let y = check_in(&app, &early, json!({"member_id": m, "at": "2026-12-04T20:00:00Z"})).await;
    assert_eq!(y.body["day"], "2026-12-05", "{:?}", y.body);
    let again = check_in(&app, &early, json!({"member_id": m, "at": "2026-12-04T20:10:00Z"})).await;
    assert_eq!(again.code(), "already_checked_in");
}

#[tokio::test]
async fn a_groups_timezone_decides_the_day_and_a_new_york_dst_week_keeps_the_streak() {
    let app = TestApp::spawn().await;
    let ny = app
        .post(
            "/v1/groups",
            json!({"platform": "telegram", "external_id": "ny", "name": "NY", "timezone": "America/New_York"}),
        )
        .await
        .id();
    app.clock.set(at("2027-03-09T12:00:00Z"));
    let m = member(&app, "Cy").await;
    let c = campaign(&app, json!({"points": 1, "streak_rewards": [{"day": 7, "points": 50}]})).await;
    // 09:00 New York every day from 10 to 17 March 2027 (DST starts on the 14th).
    for (i, d) in (10..=17).enumerate() {
        let nine = chrono_tz::America::New_York.with_ymd_and_hms(2027, 3, d, 9, 0, 0).unwrap().with_timezone(&Utc);
        app.clock.set(nine);
        let r = check_in(&app, &c, json!({"member_id": m, "group_id": ny})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["day"], format!("2027-03-{d}"));
        assert_eq!(r.body["streak"], i + 1);
    }
    // The 25-hour day in November too: 23:30 on 7 Nov and 00:30 on 8 Nov.
    let m2 = member(&app, "Di").await;
    app.clock.set(at("2027-11-06T12:00:00Z"));
    let c2 = campaign(&app, json!({"points": 1})).await;
    let late = chrono_tz::America::New_York.with_ymd_and_hms(2027, 11, 7, 23, 30, 0).unwrap().with_timezone(&Utc);
    app.clock.set(late + Duration::hours(2));
    let a = check_in(&app, &c2, json!({"member_id": m2, "group_id": ny, "at": late})).await;
    let b = check_in(&app, &c2, json!({"member_id": m2, "group_id": ny, "at": late + Duration::hours(1)})).await;
    assert_eq!((a.body["day"].as_str(), b.body["day"].as_str()), (Some("2027-11-07"), Some("2027-11-08")));
    assert_eq!(b.body["streak"], 2);
    // A group outside the campaign's explicit target is refused.
    let other = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "o", "name": "O"})).await.id();
    app.patch(&format!("/v1/campaigns/{c2}"), json!({"target": {"group_ids": [ny]}})).await;
    let r = check_in(&app, &c2, json!({"member_id": member(&app, "Ed").await, "group_id": other})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "not_in_target"));
}

#[tokio::test]
async fn streak_bonuses_repeat_every_cycle() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T01:00:00Z")); // 09:00 Shanghai
    let m = member(&app, "Fu").await;
    let c = campaign(
        &app,
        json!({"points": 10, "streak_rewards": [{"day": 3, "points": 5}, {"day": 7, "points": 20}], "cycle_days": 7}),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..10 {
        let r = check_in(&app, &c, json!({"member_id": m})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        got.push((r.body["streak"].as_i64().unwrap(), r.body["points_awarded"].as_i64().unwrap()));
        app.clock.advance(Duration::days(1));
    }
    assert_eq!(got, [(1, 10), (2, 10), (3, 15), (4, 10), (5, 10), (6, 10), (7, 30), (8, 10), (9, 10), (10, 15)]);
    assert_eq!(balance(&app, &m).await, 130);
    assert_ledger_consistent(&app, &m).await;
    // A missed day restarts the streak.
    app.clock.advance(Duration::days(1));
    let r = check_in(&app, &c, json!({"member_id": m})).await;
    assert_eq!((r.body["streak"].as_i64(), r.body["total_days"].as_i64()), (Some(1), Some(11)));
}

#[tokio::test]
async fn a_makeup_fills_a_gap_pays_its_cost_and_never_grants_a_bonus_twice() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T01:00:00Z"));
    let m = member(&app, "Gu").await;
    let c = campaign(
        &app,
        json!({"points": 10, "streak_rewards": [{"day": 3, "points": 5}, {"day": 5, "points": 50}],
               "makeup": {"max_per_month": 2, "within_days": 7, "cost_points": 20}}),
    )
    .await;
    // Days 1, 2, (3 missed), 4, 5, 6.
    for d in [1, 2, 4, 5, 6] {
        app.clock.set(at(&format!("2026-12-{d:02}T01:00:00Z")));
        assert_eq!(check_in(&app, &c, json!({"member_id": m})).await.status, StatusCode::CREATED);
    }
    // Streaks 1,2 | 1,2,3 → one bonus (day 3 of the second run, on the 6th).
    assert_eq!(balance(&app, &m).await, 55);
    let r = check_in(&app, &c, json!({"member_id": m, "day": "2026-12-03", "makeup": true})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        (r.body["day"].as_str(), r.body["streak"].as_i64(), r.body["makeup"].as_bool()),
        (Some("2026-12-03"), Some(3), Some(true))
    );
    assert_eq!(r.body["points_spent"], 20);
    // The gap is filled: the 3rd reaches day 3 (a new run from the 1st: +5),
    // the 5th reaches day 5 (+50); the 6th is day 6: nothing.
    let rewards: Vec<i64> = r.body["rewards"].as_array().unwrap().iter().map(|x| x["day"].as_i64().unwrap()).collect();
    assert_eq!(rewards, [3, 5]);
    assert_eq!(balance(&app, &m).await, 55 - 20 + 10 + 5 + 50);
    assert_ledger_consistent(&app, &m).await;
    let cal = app.get(&format!("/v1/members/{m}/check-ins?campaign_id={c}&month=2026-12")).await;
    assert_eq!(cal.status, StatusCode::OK, "{:?}", cal.body);
    let streaks: Vec<Value> = cal.body["days"].as_array().unwrap()[..7].iter().map(|d| d["streak"].clone()).collect();
    assert_eq!(streaks, [json!(1), json!(2), json!(3), json!(4), json!(5), json!(6), Value::Null]);
    assert_eq!((cal.body["current_streak"].as_i64(), cal.body["makeups"].as_i64()), (Some(6), Some(1)));

    // The same day again, a day outside the window, today, and the third makeup of the month.
    let again = check_in(&app, &c, json!({"member_id": m, "day": "2026-12-03", "makeup": true})).await;
    assert_eq!(again.code(), "already_checked_in");
    app.clock.set(at("2026-12-15T01:00:00Z"));
    let old = check_in(&app, &c, json!({"member_id": m, "day": "2026-12-07", "makeup": true})).await;
    assert_eq!((old.status, old.code()), (StatusCode::CONFLICT, "makeup_not_allowed"));
    let today = check_in(&app, &c, json!({"member_id": m, "day": "2026-12-15", "makeup": true})).await;
    assert_eq!(today.code(), "makeup_not_allowed");
    assert_eq!(
        check_in(&app, &c, json!({"member_id": m, "day": "2026-12-10", "makeup": true})).await.status,
        StatusCode::CREATED
    );
    let third = check_in(&app, &c, json!({"member_id": m, "day": "2026-12-11", "makeup": true})).await;
    assert_eq!(
        (third.code(), third.body["error"]["message"].as_str()),
        ("makeup_not_allowed", Some("at most 2 makeups a month"))
    );

    // Without the points to pay, nothing is written.
    let poor = member(&app, "Hu").await;
    let before = app.count("check_ins").await;
    let r = check_in(&app, &c, json!({"member_id": poor, "day": "2026-12-12", "makeup": true})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "insufficient_points"), "{:?}", r.body);
    assert_eq!(r.body["error"]["balance"], 0);
    assert_eq!(app.count("check_ins").await, before);
    assert_eq!(balance(&app, &poor).await, 0);
}

#[tokio::test]
async fn check_ins_are_refused_outside_a_running_check_in_campaign_and_across_workspaces() {
    let app = TestApp::spawn().await;
    let m = member(&app, "Io").await;
    let draft = app.post("/v1/campaigns", json!({"name": "later", "scene": "activity", "kind": "check_in"})).await.id();
    let r = check_in(&app, &draft, json!({"member_id": m})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "campaign_not_running"));
    let lottery = app.post("/v1/campaigns", json!({"name": "l", "scene": "fission", "kind": "lottery"})).await.id();
    app.post(&format!("/v1/campaigns/{lottery}/status"), json!({"status": "running"})).await;
    assert_eq!(check_in(&app, &lottery, json!({"member_id": m})).await.code(), "not_a_check_in_campaign");

    let c = campaign(&app, json!({})).await;
    let unknown = check_in(&app, &c, json!({"member_id": uuid::Uuid::now_v7()})).await;
    assert_eq!((unknown.status, unknown.field()), (StatusCode::NOT_FOUND, "member_id"), "{:?}", unknown.body);
    let future = check_in(&app, &c, json!({"member_id": m, "at": app.clock.now() + Duration::hours(1)})).await;
    assert_eq!((future.status, future.field()), (StatusCode::UNPROCESSABLE_ENTITY, "at"));
    let no_day = check_in(&app, &c, json!({"member_id": m, "makeup": true})).await;
    assert_eq!(no_day.field(), "day");
    // Makeups are off by default.
    let off = check_in(&app, &c, json!({"member_id": m, "day": "2026-11-19", "makeup": true})).await;
    assert_eq!(off.code(), "makeup_not_allowed");

    // Another workspace sees none of it.
    let other = app.other_workspace("other").await;
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/campaigns/{c}/check-ins"),
            Some(&other),
            Some(json!({"member_id": m})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(check_in(&app, &c, json!({"member_id": m})).await.status, StatusCode::CREATED);
    for path in [
        format!("/v1/members/{m}/points"),
        format!("/v1/members/{m}/check-ins"),
        format!("/v1/campaigns/{c}/check-ins"),
        format!("/v1/members/{m}/points/ledger"),
    ] {
        let r = app.send(reqwest::Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
    }
    let list = app.get(&format!("/v1/campaigns/{c}/check-ins?member_id={m}")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn check_in_settings_are_typed_validated_and_stored_with_defaults() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "c", "scene": "activity", "kind": "check_in",
            "settings": {"streak_rewards": [{"day": 0, "points": 5}]}}),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "settings.streak_rewards[0].day"),
        "{:?}",
        r.body
    );
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "c", "scene": "activity", "kind": "check_in",
            "settings": {"makeup": {"max_per_month": 2, "within_days": 7}}}),
        )
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "settings.makeup"), "{:?}", r.body);
    let r = app
        .post(
            "/v1/campaigns",
            json!({"name": "c", "scene": "activity", "kind": "check_in",
            "settings": {"reply_content_id": uuid::Uuid::now_v7()}}),
        )
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::NOT_FOUND, "settings.reply_content_id"), "{:?}", r.body);
    let ok = app.post("/v1/campaigns", json!({"name": "c", "scene": "activity", "kind": "check_in"})).await;
    assert_eq!(ok.body["settings"]["points"], 10);
    assert_eq!(ok.body["settings"]["day_starts_at"], "00:00");
    let id = ok.id();
    let bad = app.patch(&format!("/v1/campaigns/{id}"), json!({"settings": {"cycle_days": 0}})).await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "settings.cycle_days"));
    let good = app.patch(&format!("/v1/campaigns/{id}"), json!({"settings": {"points": 3}})).await;
    assert_eq!(
        (good.body["settings"]["points"].as_i64(), good.body["settings"]["keywords"][0].as_str()),
        (Some(3), Some("签到"))
    );
}

#[tokio::test]
async fn stats_count_participants_first_timers_streaks_and_the_target_groups_reach() {
    let app = TestApp::spawn().await;
    app.clock.set(at("2026-12-01T01:00:00Z"));
    let g = app.post("/v1/groups", json!({"platform": "telegram", "external_id": "s", "name": "S"})).await.id();
    let (a, b, c, d) =
        (member(&app, "A").await, member(&app, "B").await, member(&app, "C").await, member(&app, "D").await);
    let joins: Vec<Value> = [&a, &b, &c, &d]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({"id": format!("j{i}"), "type": "member_joined", "occurred_at": "2026-11-30T01:00:00Z",
                             "member_id": m, "group_id": g})
        })
        .collect();
    let r = app.post("/v1/events", json!(joins)).await;
    assert_eq!(r.body["accepted"], 4, "{:?}", r.body);
    let camp = campaign(&app, json!({"points": 3})).await;
    app.patch(&format!("/v1/campaigns/{camp}"), json!({"target": {"group_ids": [g]}})).await;
    for (day, who) in [(1, vec![&a, &b]), (2, vec![&a]), (3, vec![&a, &c])] {
        app.clock.set(at(&format!("2026-12-{day:02}T01:00:00Z")));
        for m in who {
            assert_eq!(check_in(&app, &camp, json!({"member_id": m, "group_id": g})).await.status, StatusCode::CREATED);
        }
    }
    let s = app.get(&format!("/v1/campaigns/{camp}/check-ins/stats?from=2026-12-01&to=2026-12-04")).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let col =
        |k: &str| -> Vec<i64> { s.body["days"].as_array().unwrap().iter().map(|d| d[k].as_i64().unwrap()).collect() };
    assert_eq!(col("participants"), [2, 1, 2, 0]);
    assert_eq!(col("first_time"), [2, 0, 1, 0]);
    assert_eq!(col("points_awarded"), [6, 3, 6, 0]);
    assert_eq!((s.body["members"].as_i64(), s.body["check_ins"].as_i64()), (Some(3), Some(5)));
    // On the 4th: A is on a 3-day streak, C on 1, B's broke.
    let buckets: Vec<(i64, i64)> = s.body["streaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["min"].as_i64().unwrap(), b["members"].as_i64().unwrap()))
        .collect();
    assert_eq!(buckets, [(0, 1), (1, 1), (2, 1), (4, 0), (7, 0), (14, 0), (30, 0)]);
    assert_eq!((s.body["target_members"].as_i64(), s.body["target_members_checked_in"].as_i64()), (Some(4), Some(3)));
    assert_eq!(s.body["participation_rate"], 0.75);
    let csv =
        app.get_text(&format!("/v1/campaigns/{camp}/check-ins/stats?from=2026-12-01&to=2026-12-02&format=csv")).await;
    assert_eq!(
        csv,
        "day,participants,first_time,makeups,points_awarded\r\n2026-12-01,2,2,0,6\r\n2026-12-02,1,0,0,3\r\n"
    );
    let bad = app.get(&format!("/v1/campaigns/{camp}/check-ins/stats?from=2026-12-05&to=2026-12-01")).await;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "from"));
}
