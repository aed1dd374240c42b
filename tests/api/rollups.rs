//! Incremental rollups: ingestion and rollup passes interleaved at random
//! points — events out of order (late events for old days), duplicates,
//! erasures, staff changes, whole-day repairs — and after every pass the
//! rollups compared with a full recompute from the raw events.

use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::metrics::{commerce_history, day, history, post_events, Lcg};
use shequn::ids::WorkspaceId;
use shequn::metrics::store::rollup;

/// Every rollup table of a workspace as sorted text rows, in a form two
/// equal rollups share: timelines as each member-month's concatenated
/// chunks (where chunks split is the writer's choice), payment days as
/// sorted records (a day's records are in no particular order).
async fn dump(conn: &mut PgConnection, ws: Uuid) -> Vec<(String, Vec<String>)> {
    let queries = [
        ("member_days", "SELECT row_to_json(t)::text FROM metric_member_days t WHERE workspace_id = $1"),
        (
            "member_index",
            "SELECT concat_ws(' ', member_id, idx, first_active) FROM metric_member_index WHERE workspace_id = $1",
        ),
        ("group_days", "SELECT row_to_json(t)::text FROM metric_group_days t WHERE workspace_id = $1"),
        ("days", "SELECT row_to_json(t)::text FROM metric_days t WHERE workspace_id = $1"),
        ("type_days", "SELECT row_to_json(t)::text FROM metric_type_days t WHERE workspace_id = $1"),
        ("orders", "SELECT row_to_json(t)::text FROM metric_orders t WHERE workspace_id = $1"),
        ("clicks", "SELECT row_to_json(t)::text FROM metric_campaign_clicks t WHERE workspace_id = $1"),
        (
            "order_days",
            "SELECT concat_ws(' ', day, orders, (SELECT string_agg(r, ',' ORDER BY r) FROM
                 (SELECT encode(substring(data FROM i FOR 71), 'hex') AS r FROM generate_series(1, length(data), 71) i) x))
             FROM metric_order_days WHERE workspace_id = $1",
        ),
        ("stints", "SELECT row_to_json(t)::text FROM metric_group_stints t WHERE workspace_id = $1"),
        ("excluded", "SELECT row_to_json(t)::text FROM metric_excluded t WHERE workspace_id = $1"),
    ];
    let mut out = vec![("timelines".to_owned(), timelines(conn, ws).await)];
    for (name, sql) in queries {
        let mut rows: Vec<String> = sqlx::query_scalar(sql).bind(ws).fetch_all(&mut *conn).await.unwrap();
        rows.sort();
        out.push((name.to_owned(), rows));
    }
    out
}

/// Each member-month's timeline: its events in the order a funnel reads
/// them (where chunks split, and in which order late events were appended,
/// is the writer's business), with the chunks' event counts.
async fn timelines(conn: &mut PgConnection, ws: Uuid) -> Vec<String> {
    use shequn::metrics::store::timelines::{decode, Keep};
    let rows: Vec<(i32, chrono::NaiveDate, i32, Vec<u8>)> = sqlx::query_as(
        "SELECT member_idx, month, events, data FROM metric_member_chunks WHERE workspace_id = $1
         ORDER BY member_idx, month, seq",
    )
    .bind(ws)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut months: std::collections::BTreeMap<(i32, chrono::NaiveDate), (i32, Vec<_>)> = Default::default();
    let all = Keep { codes: u32::MAX, lo: i64::MIN, end: i64::MAX, groups: None };
    for (idx, month, n, data) in rows {
        let m = months.entry((idx, month)).or_default();
        m.0 += n;
        let before = m.1.len();
        decode(Uuid::nil(), &data, &all, &mut m.1).expect("a well-formed chunk");
        assert_eq!(m.1.len() - before, n as usize, "a chunk's count is its events");
    }
    months
        .into_iter()
        .map(|((idx, month), (n, mut events))| {
            events.sort_by_key(|e| (e.occurred_at, e.id));
            let list: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {} {:?} {:?} {:?}",
                        e.kind, e.occurred_at, e.id, e.group_id, e.campaign_id, e.campaign_code
                    )
                })
                .collect();
            format!("{idx} {month} {n}: {}", list.join(", "))
        })
        .collect()
}

/// Merges whatever is still queued, then compares the rollups with a full
/// recompute — both inside one transaction that is rolled back, so the
/// test's own state (what the passes so far left) goes on unchanged.
/// Returns how many rows the rollups hold.
async fn check_against_recompute(app: &TestApp, ws: Uuid, when: &str) -> usize {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await.unwrap();
    loop {
        let p = rollup::pass_in(&mut tx, 5000).await.unwrap();
        assert!(p.ran);
        if p.queued == 0 {
            break;
        }
    }
    let merged = dump(&mut tx, ws).await;
    rollup::rebuild_workspace(&mut tx, WorkspaceId(ws)).await.unwrap();
    let recomputed = dump(&mut tx, ws).await;
    tx.rollback().await.unwrap();
    for ((table, a), (_, b)) in merged.iter().zip(&recomputed) {
        if a != b {
            let only_merged: Vec<&String> = a.iter().filter(|r| !b.contains(r)).take(3).collect();
            let only_recomputed: Vec<&String> = b.iter().filter(|r| !a.contains(r)).take(3).collect();
            panic!(
                "{when}: {table} differs ({} rows merged, {} recomputed)\nmerged only: {only_merged:#?}\nrecomputed only: {only_recomputed:#?}",
                a.len(),
                b.len()
            );
        }
    }
    merged.iter().map(|(_, rows)| rows.len()).sum()
}

#[tokio::test]
async fn merged_rollups_equal_a_full_recompute_after_every_pass_of_a_random_interleaving() {
    let app = TestApp::spawn().await;
    // Late enough that every event of the history is in the past.
    app.clock.set(Utc.with_ymd_and_hms(2027, 1, 15, 0, 0, 0).unwrap());
    let ws = Uuid::parse_str(&app.workspace_id).unwrap();
    // A zone with a daylight-saving change inside the history.
    let r = app.patch("/v1/workspace", json!({"timezone": "America/New_York"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    rollup::drain(&app.pool).await.unwrap();
    for code in ["camp-a", "camp-b"] {
        let body = json!({"name": code, "scene": "conversion", "kind": "coupon", "tracking_code": code});
        assert_eq!(app.post("/v1/campaigns", body).await.status, StatusCode::CREATED);
    }
    let tz: Tz = "America/New_York".parse().unwrap();
    let mut events = history(5, tz, day("2026-10-27"), 12, 30, 3);
    events.extend(commerce_history(6, Utc.with_ymd_and_hms(2026, 10, 28, 0, 0, 0).unwrap(), 9, 30));
    // Two events of one member at one instant, and events after the last
    // chunk of a month arriving in reverse (the late-event merge).
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 15, 0, 0).unwrap();
    for (n, kind) in ["checked_in", "message_sent", "link_clicked"].iter().enumerate() {
        events.push(crate::metrics::ev(format!("tie-{n}"), kind, at, 1, Some(0)));
    }
    for n in 0..150 {
        let t = at + Duration::minutes(150 - n);
        events.push(crate::metrics::ev(format!("burst-{n}"), "message_sent", t, 2, Some(1)));
    }
    let mut r = Lcg(42);
    // Shuffle: late events for old days come after newer ones.
    for i in (1..events.len()).rev() {
        events.swap(i, r.below(i as u64 + 1) as usize);
    }
    let mut posted: Vec<Vec<Value>> = Vec::new();
    let (mut at_event, mut passes, mut repairs, mut erased, mut staffed) = (0, 0, 0, 0, 0);
    while at_event < events.len() {
        let n = 1 + r.below(12) as usize;
        let chunk: Vec<Value> = events[at_event..(at_event + n).min(events.len())].to_vec();
        at_event += chunk.len();
        post_events(&app, &chunk).await;
        posted.push(chunk);
        if r.chance(15) {
            // Redelivered: stored once, merged once.
            let again = posted[r.below(posted.len() as u64) as usize].clone();
            post_events(&app, &again).await;
        }
        if r.chance(15) {
            let members = app.get("/v1/members?limit=200").await.body["items"].as_array().unwrap().clone();
            let m = &members[r.below(members.len() as u64) as usize];
            let id = m["id"].as_str().unwrap();
            if r.chance(30) && m["erased_at"].is_null() {
                assert_eq!(app.delete(&format!("/v1/members/{id}")).await.status, StatusCode::NO_CONTENT);
                erased += 1;
            } else {
                let staff = !m["is_staff"].as_bool().unwrap_or(false);
                let resp = app.patch(&format!("/v1/members/{id}"), json!({"is_staff": staff})).await;
                // An erased member's flags cannot change (409), anyone else's can.
                assert!(matches!(resp.status, StatusCode::OK | StatusCode::CONFLICT), "{}", resp.body);
                staffed += usize::from(resp.status == StatusCode::OK);
            }
        }
        if at_event < events.len() / 2 && r.chance(8) {
            // The repair path for a random day, queued among the merges (in
            // the first half: it rebuilds the day's month of timelines in
            // order, and the second half's late events unsort it again).
            let d = day("2026-10-27") + Duration::days(r.below(14) as i64);
            let mut conn = app.pool.acquire().await.unwrap();
            rollup::mark_days_whole(&mut conn, WorkspaceId(ws), &[d]).await.unwrap();
            repairs += 1;
        }
        if r.chance(45) {
            // A pass reading a few queue rows: merges split at random.
            let p = rollup::run_once_reading(&app.pool, 1 + r.below(24) as i64).await.unwrap();
            assert!(p.ran);
            passes += 1;
            check_against_recompute(&app, ws, &format!("after pass {passes}")).await;
        }
    }
    rollup::drain(&app.pool).await.unwrap();
    let rows = check_against_recompute(&app, ws, "drained").await;
    eprintln!(
        "{} events, {passes} passes, {repairs} repairs, {erased} erased, {staffed} staff changes, {rows} rows",
        events.len()
    );
    assert!(passes >= 20 && repairs >= 2 && erased >= 1 && staffed >= 1, "{passes} {repairs} {erased} {staffed}");
    assert!(rows > 500, "the rollups hold {rows} rows");
    // Late events were appended after later ones: some member's chunks are
    // out of (instant, id) order, which the funnel's read puts right.
    let unsorted = {
        use shequn::metrics::store::timelines::{decode, Keep};
        let rows: Vec<(i32, Vec<u8>)> = sqlx::query_as(
            "SELECT member_idx, string_agg(data, '' ORDER BY seq) FROM metric_member_chunks
             WHERE workspace_id = $1 GROUP BY member_idx, month",
        )
        .bind(ws)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let all = Keep { codes: u32::MAX, lo: i64::MIN, end: i64::MAX, groups: None };
        rows.iter()
            .filter(|(_, data)| {
                let mut events = Vec::new();
                decode(Uuid::nil(), data, &all, &mut events).unwrap();
                !events.is_sorted_by_key(|e| (e.occurred_at, e.id))
            })
            .count()
    };
    let months: i64 = sqlx::query_scalar("SELECT count(DISTINCT (member_idx, month)) FROM metric_member_chunks")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(unsorted > 0, "no member-month of {months} was merged out of order");
    // And the drained rollups answer as the recompute does.
    let queries = [
        "/v1/metrics/activity?from=2026-10-27&to=2026-11-08",
        "/v1/metrics/funnel?from=2026-10-27&to=2026-11-08&steps=checked_in,message_sent,link_clicked&window=2h",
        "/v1/metrics/funnel?from=2026-10-27&to=2026-11-08&funnel=onboarding&window=3d",
        "/v1/metrics/funnel?from=2026-10-28&to=2026-11-06&steps=link_clicked,order_paid&hold=campaign&by=group",
        "/v1/metrics/commerce?from=2026-10-28&to=2026-11-08&by=campaign",
    ];
    let mut before = Vec::new();
    for q in queries {
        let r = app.get(q).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        before.push(r.body);
    }
    assert!(before[1]["steps"][1]["count"].as_i64().unwrap() > 0, "{}", before[1]);
    let mut conn = app.pool.acquire().await.unwrap();
    shequn::metrics::store::rollup::mark_all_dirty(&mut conn, WorkspaceId(ws)).await.unwrap();
    drop(conn);
    rollup::drain(&app.pool).await.unwrap();
    for (q, b) in queries.iter().zip(before) {
        assert_eq!(app.get(q).await.body, b, "{q}");
    }
}

#[tokio::test]
async fn a_pass_merges_the_rows_it_reads_and_leaves_the_rest_queued() {
    let app = TestApp::spawn().await;
    rollup::drain(&app.pool).await.unwrap();
    // Three requests, each with events on the local days 11-10, 11-11 and
    // 11-13 (Asia/Shanghai): nine queue rows, one per request and day.
    let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
    for r in 0..3 {
        let batch: Vec<Value> = [10, 11, 13]
            .iter()
            .map(|&d| crate::metrics::ev(format!("q-{r}-{d}"), "message_sent", at(d, 2), r, Some(0)))
            .collect();
        post_events(&app, &batch).await;
    }
    let queued = || async {
        sqlx::query_as::<_, (chrono::NaiveDate, i32)>("SELECT day, n FROM metric_dirty_days ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(queued().await.len(), 9);
    assert!(queued().await.iter().all(|(_, n)| *n == 1));
    // A pass reading two rows merges their events only: the first request's
    // 11-10 and 11-11; everything else waits, and `pending` says so.
    let pass = rollup::run_once_reading(&app.pool, 2).await.unwrap();
    assert_eq!((pass.queued, pass.merged, pass.days(), pass.more), (2, 2, 0, true));
    assert_eq!(queued().await.len(), 7);
    let dau = |r: &Value| r["days"].as_array().unwrap().iter().map(|d| d["dau"].as_i64().unwrap()).collect::<Vec<_>>();
    let q = "/v1/metrics/activity?from=2026-11-10&to=2026-11-13";
    let r = app.get(q).await;
    assert_eq!((dau(&r.body), &r.body["pending"]), (vec![1, 1, 0, 0], &json!(true)));
    rollup::drain(&app.pool).await.unwrap();
    assert!(queued().await.is_empty());
    let r = app.get(q).await;
    assert_eq!((dau(&r.body), &r.body["pending"]), (vec![3, 3, 0, 3], &json!(false)));
    // One request's events of one day are one row however many they are.
    let batch: Vec<Value> =
        (0..40).map(|n| crate::metrics::ev(format!("b-{n}"), "message_sent", at(11, 3), n % 7, Some(0))).collect();
    post_events(&app, &batch).await;
    assert_eq!(queued().await, vec![(day("2026-11-11"), 40)]);
    let pass = rollup::run_once(&app.pool).await.unwrap();
    assert_eq!((pass.queued, pass.merged, pass.more), (1, 40, false));
    let r = app.get(q).await;
    assert_eq!(dau(&r.body), vec![3, 7, 0, 3]);
}

#[tokio::test]
async fn the_repair_command_recomputes_days_from_the_raw_events() {
    let app = TestApp::spawn().await;
    let at = Utc.with_ymd_and_hms(2026, 11, 11, 2, 0, 0).unwrap();
    post_events(&app, &[crate::metrics::ev("x1".into(), "message_sent", at, 1, Some(0))]).await;
    rollup::drain(&app.pool).await.unwrap();
    // A rollup gone wrong (as a bug or a hand edit would leave it)...
    sqlx::query("UPDATE metric_member_days SET messages = 99").execute(&app.pool).await.unwrap();
    sqlx::query("DELETE FROM metric_member_chunks").execute(&app.pool).await.unwrap();
    let ws = Uuid::parse_str(&app.workspace_id).unwrap();
    let broken = dump(&mut app.pool.acquire().await.unwrap(), ws).await;
    // ...is put right for the days named, in every workspace.
    let n = rollup::rebuild_days(&app.pool, None, day("2026-11-10"), day("2026-11-12")).await.unwrap();
    assert!(n >= 1);
    let fixed = dump(&mut app.pool.acquire().await.unwrap(), ws).await;
    assert_ne!(broken, fixed);
    check_against_recompute(&app, ws, "repaired").await;
    let messages: i32 =
        sqlx::query_scalar("SELECT messages FROM metric_member_days").fetch_one(&app.pool).await.unwrap();
    assert_eq!(messages, 1);
    // An unknown workspace is refused, naming it.
    let e = rollup::rebuild_days(&app.pool, Some("nope"), day("2026-11-10"), day("2026-11-12")).await.unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}
