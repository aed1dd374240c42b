//! The one mechanism that follows stored events (`events::reactions`): who
//! hears what, and that a subscriber's failure stores nothing of the batch.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::json;
use shequn::events::model::EventSource;
use shequn::events::reactions::Reaction;
use shequn::events::repo::Row;
use shequn::ids::WorkspaceId;
use sqlx::PgConnection;

use crate::helpers::TestApp;

/// Writes down every event it is handed: (type, source).
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<(String, EventSource)>>>);

impl Recorder {
    fn heard(&self) -> Vec<(String, EventSource)> {
        self.0.lock().unwrap().clone()
    }
}

impl Reaction for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn react<'a>(
        &'a self,
        _: &'a mut PgConnection,
        _: WorkspaceId,
        events: &'a [Row],
        _stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        self.0.lock().unwrap().extend(events.iter().map(|e| (e.kind.clone(), e.source)));
        Box::pin(async { Ok(()) })
    }
}

/// Fails inside the database, as a broken subscriber would.
struct Failing;

impl Reaction for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        _: WorkspaceId,
        _: &'a [Row],
        _stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move { sqlx::query("SELECT 1 / 0").execute(conn).await.map(|_| ()) })
    }
}

fn kinds(heard: &[(String, EventSource)]) -> Vec<&str> {
    heard.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test]
async fn every_newly_stored_event_is_handed_to_the_subscribers_once_whoever_stored_it() {
    let recorder = Recorder::default();
    let app = TestApp::spawn_reacting(vec![Arc::new(recorder.clone())]).await;
    let g = app.post("/v1/groups", json!({"platform": "slack", "external_id": "C1", "name": "g"})).await.id();
    let m = app.post("/v1/members", json!({"display_name": "Lily"})).await.id();
    let batch = json!([
        {"id": "e1", "type": "message_sent", "occurred_at": "2026-11-20T01:00:00Z", "member_id": m, "group_id": g},
        {"id": "e2", "type": "member_joined", "occurred_at": "2026-11-20T00:30:00Z",
         "member": {"platform": "slack", "external_id": "U9"}, "group_id": g}
    ]);
    assert_eq!(app.post("/v1/events", batch.clone()).await.status, StatusCode::OK);
    assert_eq!(kinds(&recorder.heard()), ["message_sent", "member_joined"]);
    // Redeliveries are stored already: nobody hears them again.
    let again = app.post("/v1/events", batch).await;
    assert_eq!(again.body["duplicates"], 2);
    assert_eq!(recorder.heard().len(), 2);

    // Joins and leaves through the API are stored events like any other.
    let r = app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": m})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.delete(&format!("/v1/groups/{g}/members/{m}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let heard = recorder.heard();
    assert_eq!(kinds(&heard[2..]), ["member_joined", "member_left"]);
    assert!(heard[2..].iter().all(|(_, s)| *s == EventSource::Api), "{heard:?}");
}

#[tokio::test]
async fn a_failing_subscriber_fails_the_batch_and_nothing_of_it_is_stored() {
    let app = TestApp::spawn_reacting(vec![Arc::new(Failing)]).await;
    let g = app.post("/v1/groups", json!({"platform": "slack", "external_id": "C1", "name": "g"})).await.id();
    let m = app.post("/v1/members", json!({"display_name": "Lily"})).await.id();
    let tables =
        ["events", "members", "groups", "memberships", "metric_dirty_days", "metric_dirty_stints", "audit_log"];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.count(t).await);
    }
    let batch = json!([
        {"id": "e1", "type": "member_joined", "occurred_at": "2026-11-20T00:30:00Z",
         "member": {"platform": "slack", "external_id": "U9"}, "group": {"platform": "slack", "external_id": "C2"}},
        {"id": "e2", "type": "message_sent", "occurred_at": "2026-11-20T01:00:00Z", "member_id": m, "group_id": g}
    ]);
    let r = app.post("/v1/events", batch).await;
    assert!(r.status.is_server_error(), "{:?} {:?}", r.status, r.body);
    let r = app.post(&format!("/v1/groups/{g}/members"), json!({"member_id": m})).await;
    assert!(r.status.is_server_error(), "{:?} {:?}", r.status, r.body);
    let mut after = Vec::new();
    for t in tables {
        after.push(app.count(t).await);
    }
    // Not the events, nor the member and group first seen in them, nor a stint, queue row or audit entry.
    assert_eq!(after, before, "{tables:?}");
}

#[tokio::test]
async fn an_api_join_queues_its_local_day_and_its_group_for_the_rollups() {
    let app = TestApp::spawn().await;
    let g = app.post("/v1/groups", json!({"platform": "slack", "external_id": "C1", "name": "g"})).await.id();
    let m = app.post("/v1/members", json!({"display_name": "Lily"})).await.id();
    // 17:00 UTC is the next local day in Asia/Shanghai, the workspace's zone.
    let r = app
        .post(&format!("/v1/groups/{g}/members"), json!({"member_id": m, "joined_at": "2026-11-19T17:00:00Z"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let days: Vec<Option<chrono::NaiveDate>> =
        sqlx::query_scalar("SELECT day FROM metric_dirty_days").fetch_all(&app.pool).await.unwrap();
    assert_eq!(days, [chrono::NaiveDate::from_ymd_opt(2026, 11, 20)]);
    let groups: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT group_id FROM metric_dirty_stints").fetch_all(&app.pool).await.unwrap();
    assert_eq!(groups, [g.parse::<uuid::Uuid>().unwrap()]);
    let members = app.get(&format!("/v1/groups/{g}/members")).await;
    assert_eq!(members.body["items"][0]["member_id"], m.as_str());
}

#[tokio::test]
async fn a_new_timezone_or_active_set_queues_one_full_rebuild_and_a_rename_none() {
    let app = TestApp::spawn().await;
    let rebuilds = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM metric_dirty_days WHERE day IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(app.patch("/v1/workspace", json!({"name": "renamed"})).await.status, StatusCode::OK);
    assert_eq!(rebuilds().await, 0);
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "UTC"})).await.status, StatusCode::OK);
    assert_eq!(rebuilds().await, 1);
    assert_eq!(app.patch("/v1/workspace", json!({"timezone": "UTC"})).await.status, StatusCode::OK);
    assert_eq!(rebuilds().await, 1);
    let r = app.patch("/v1/workspace", json!({"active_event_types": ["message_sent"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(rebuilds().await, 2);
}
