//! Operations endpoints, the error envelope, keys and roles, the workspace,
//! tiers, idempotency, the audit log and the embedded-PostgreSQL start path.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{test_settings, TestApp};

#[tokio::test]
async fn health_readiness_metrics_and_docs_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let r = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let r = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("x-request-id").is_some());
    let spec = app.send(Method::GET, "/openapi.json", None, None).await;
    assert!(spec.body["paths"]["/v1/tiers"]["get"].is_object());
    let docs = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    let m = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("shequn_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"), "{m}");
    assert!(m.contains("shequn_db_pool_connections"));
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let generated = serde_json::to_string_pretty(&shequn::api::openapi()).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == generated, "openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test openapi` and commit it");
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401_in_the_envelope() {
    let app = TestApp::spawn().await;
    for key in [None, Some("nope"), Some("shq_000000000000000000000000000000000000000000000000")] {
        let r = app.send(Method::GET, "/v1/workspace", key, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "unauthorized");
        assert_eq!(r.body["error"]["request_id"].as_str(), r.headers.get("x-request-id").and_then(|v| v.to_str().ok()));
    }
}

#[tokio::test]
async fn keys_are_shown_once_listed_by_prefix_and_revocable() {
    let app = TestApp::spawn().await;
    let r = app.post("/v1/api-keys", json!({"role": "operator", "name": "ops bot"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.body["key"].as_str().unwrap().to_owned();
    let id = r.id();
    assert!(secret.starts_with(r.body["prefix"].as_str().unwrap()));
    assert_eq!(app.send(Method::GET, "/v1/workspace", Some(&secret), None).await.status, StatusCode::OK);

    let list = app.get("/v1/api-keys").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert!(!list.body.to_string().contains(&secret), "a listing leaked a secret");
    let mine = list.body["items"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
    assert!(mine["last_used_at"].is_string());
    assert_eq!(mine["role"], "operator");

    assert_eq!(app.delete(&format!("/v1/api-keys/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.send(Method::GET, "/v1/workspace", Some(&secret), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&format!("/v1/api-keys/{id}")).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    let app = TestApp::spawn().await;
    let viewer = app.key_with_role("viewer").await;
    let operator = app.key_with_role("operator").await;
    let admin = app.key_with_role("admin").await;

    // viewer: reads only
    assert_eq!(app.send(Method::GET, "/v1/tiers", Some(&viewer), None).await.status, StatusCode::OK);
    let r = app
        .send(Method::POST, "/v1/tiers", Some(&viewer), Some(json!({"key": "gold", "name": "Gold", "rank": 30})))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    // operator: domain writes, no keys, no workspace settings
    let r = app
        .send(Method::POST, "/v1/tiers", Some(&operator), Some(json!({"key": "gold", "name": "Gold", "rank": 30})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.send(Method::GET, "/v1/api-keys", Some(&operator), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.send(Method::PATCH, "/v1/workspace", Some(&operator), Some(json!({"currency": "USD"}))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.send(Method::GET, "/v1/audit-log", Some(&operator), None).await.status, StatusCode::FORBIDDEN);
    // admin: everything but owner keys
    let r = app.send(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"role": "owner"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"role": "viewer"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let keys = app.get("/v1/api-keys?limit=200").await;
    let owner_id = keys.body["items"].as_array().unwrap().iter().find(|k| k["role"] == "owner").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.send(Method::DELETE, &format!("/v1/api-keys/{owner_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // owner: the last owner key stays
    let r = app.delete(&format!("/v1/api-keys/{owner_id}")).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner_key"));
}

#[tokio::test]
async fn workspace_settings_are_validated_and_updated() {
    let app = TestApp::spawn().await;
    let r = app.get("/v1/workspace").await;
    assert_eq!(
        (r.body["timezone"].as_str(), r.body["currency"].as_str(), r.body["week_start"].as_str()),
        (Some("Asia/Shanghai"), Some("CNY"), Some("monday"))
    );
    let r = app.patch("/v1/workspace", json!({"timezone": "Mars/Base"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "timezone"));
    let r = app.patch("/v1/workspace", json!({"week_start": "friday"})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "week_start"));
    let r = app
        .patch("/v1/workspace", json!({"timezone": "Europe/Berlin", "currency": "EUR", "week_start": "sunday"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((r.body["timezone"].as_str(), r.body["week_start"].as_str()), (Some("Europe/Berlin"), Some("sunday")));
}

#[tokio::test]
async fn tiers_default_to_vip_and_basic_and_can_be_managed() {
    let app = TestApp::spawn().await;
    let r = app.get("/v1/tiers").await;
    let keys: Vec<&str> = r.body["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["vip", "basic"]);
    let gold = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 30})).await;
    assert_eq!(gold.status, StatusCode::CREATED);
    let dup = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold 2", "rank": 31})).await;
    assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "already_exists"));
    let bad = app.post("/v1/tiers", json!({"key": "Gold Tier", "name": "", "rank": 1})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["details"].as_array().unwrap().len(), 2);
    let id = gold.id();
    assert_eq!(app.get(&format!("/v1/tiers/{id}")).await.body["rank"], 30);
    let r = app.patch(&format!("/v1/tiers/{id}"), json!({"name": "Gold+"})).await;
    assert_eq!(r.body["name"], "Gold+");
    assert_eq!(app.get("/v1/tiers").await.body["items"][0]["key"], "gold");
    // Renaming a key carries over to the groups that use it; a used tier stays.
    let g = app
        .post("/v1/groups", json!({"platform": "slack", "external_id": "C1", "name": "g", "tier": "gold"}))
        .await
        .id();
    assert_eq!(app.patch(&format!("/v1/tiers/{id}"), json!({"key": "platinum"})).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/groups/{g}")).await.body["tier"], "platinum");
    assert_eq!(app.delete(&format!("/v1/tiers/{id}")).await.code(), "tier_in_use");
    app.patch(&format!("/v1/groups/{g}"), json!({"tier": null})).await;
    assert_eq!(app.delete(&format!("/v1/tiers/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/tiers/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_envelope_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.count("tiers").await;
    type Case = (Method, &'static str, &'static str, Vec<u8>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/v1/tiers",
            "application/json",
            b"{\"key\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            Method::POST,
            "/v1/tiers",
            "text/plain",
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/v1/tiers",
            "application/json",
            br#"{"key": "x", "name": "X", "rank": "high"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/v1/tiers",
            "application/json",
            br#"{"key": "x", "name": "X", "rank": 1, "colour": "red"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/v1/tiers",
            "application/json",
            br#"[1, 2]"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/v1/tiers",
            "application/json",
            vec![b' '; 2 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Method::GET,
            "/v1/tiers/not-a-uuid",
            "application/json",
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
        ),
        (
            Method::GET,
            "/v1/api-keys?limit=-1",
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/v1/api-keys?limit=abc",
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/v1/api-keys?cursor=zzz",
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/v1/api-keys?lmit=5",
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::PUT,
            "/v1/tiers",
            "application/json",
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let r = app.send_raw(method.clone(), path, ct, body).await;
        assert_eq!((r.status, r.code()), (status, code), "{method} {path}: {:?}", r.body);
        assert!(r.body["error"]["message"].is_string());
        assert!(r.body["error"]["request_id"].is_string());
    }
    let r = app
        .send_raw(
            Method::POST,
            "/v1/tiers",
            "application/json",
            br#"{"key": "x", "name": "X", "rank": 1, "colour": "red"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.field(), "colour");
    let r = app.send_raw(Method::GET, "/v1/api-keys?limit=-1", "application/json", vec![]).await;
    assert_eq!(r.field(), "limit");
    assert_eq!(app.count("tiers").await, before);
}

#[tokio::test]
async fn a_retried_post_with_an_idempotency_key_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let send = |body: serde_json::Value| {
        app.client
            .post(format!("{}/v1/tiers", app.base))
            .bearer_auth(&app.key)
            .header("idempotency-key", "tier-gold-1")
            .json(&body)
            .send()
    };
    let first = send(json!({"key": "gold", "name": "Gold", "rank": 30})).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body: serde_json::Value = first.json().await.unwrap();
    let again = send(json!({"key": "gold", "name": "Gold", "rank": 30})).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first_body);
    let other = send(json!({"key": "gold", "name": "Golden", "rank": 30})).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("tiers").await, 3);
}

#[tokio::test]
async fn every_write_lands_in_the_audit_log_with_its_actor() {
    let app = TestApp::spawn().await;
    let tier = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 30})).await.id();
    app.patch("/v1/workspace", json!({"currency": "USD"})).await;
    let log = app.get("/v1/audit-log").await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "workspace.update");
    assert_eq!(items[1]["action"], "tier.create");
    assert_eq!(items[1]["resource_id"], tier.as_str());
    assert_eq!(items[1]["actor_type"], "api_key");
    assert!(items[1]["request_id"].is_string());
    let only = app.get("/v1/audit-log?resource_type=tier").await;
    assert_eq!(only.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn one_workspace_cannot_see_or_change_another_workspaces_keys_or_tiers() {
    let app = TestApp::spawn().await;
    let other = app.other_workspace("other").await;
    let tier = app.post("/v1/tiers", json!({"key": "gold", "name": "Gold", "rank": 30})).await.id();
    let key = app.post("/v1/api-keys", json!({"role": "viewer"})).await.id();
    for (m, path) in [
        (Method::GET, format!("/v1/tiers/{tier}")),
        (Method::DELETE, format!("/v1/tiers/{tier}")),
        (Method::DELETE, format!("/v1/api-keys/{key}")),
    ] {
        let r = app.send(m, &path, Some(&other), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let theirs = app.send(Method::GET, "/v1/tiers", Some(&other), None).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.send(Method::GET, "/v1/api-keys", Some(&other), None).await.body["items"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        app.send(Method::GET, "/v1/audit-log", Some(&other), None).await.body["items"].as_array().unwrap().len(),
        1
    );
    assert_eq!(app.get(&format!("/v1/tiers/{tier}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_server_starts_an_embedded_postgres_when_no_database_is_configured() {
    let dir = std::env::temp_dir().join(format!(
        "shequn-test-{}-embedded-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    let mut settings = test_settings();
    settings.server.port = 0;
    settings.embedded.data_dir = dir.join("pg");
    let app = shequn::startup::Application::build(settings, std::sync::Arc::new(shequn::clock::SystemClock))
        .await
        .expect("build");
    assert!(app.runs_embedded_database());
    let created = app.bootstrapped.as_ref().expect("first start creates the default workspace");
    assert_eq!(created.workspace.name, "default");
    let key = created.owner_key.key.clone();
    let port = app.port();
    let token = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(app.run_until(token.clone()));
    let client = reqwest::Client::new();
    let r = client.get(format!("http://127.0.0.1:{port}/v1/workspace")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    token.cancel();
    run.await.unwrap().expect("clean shutdown");
    let pid_file = dir.join("pg/postmaster.pid");
    assert!(!pid_file.exists(), "the embedded cluster was left running");
    // A second start reuses the cluster's data and creates no new workspace.
    let mut settings = test_settings();
    settings.server.port = 0;
    settings.embedded.data_dir = dir.join("pg");
    let app = shequn::startup::Application::build(settings, std::sync::Arc::new(shequn::clock::SystemClock))
        .await
        .expect("rebuild");
    assert!(app.bootstrapped.is_none());
    let token = tokio_util::sync::CancellationToken::new();
    token.cancel();
    app.run_until(token).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_running_idempotent_request_blocks_its_retry_until_it_is_abandoned() {
    let app = TestApp::spawn().await;
    let body = json!({"key": "gold", "name": "Gold", "rank": 30});
    let ws: uuid::Uuid = app.workspace_id.parse().unwrap();
    let hash = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update("POST");
        h.update([0]);
        h.update("/v1/tiers");
        h.update([0]);
        h.update(serde_json::to_vec(&body).unwrap());
        h.finalize().to_vec()
    };
    for (key, age_secs) in [("fresh", 1), ("abandoned", 3600)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (workspace_id, key, method, path, request_hash, created_at)
             VALUES ($1, $2, 'POST', '/v1/tiers', $3, now() - make_interval(secs => $4))",
        )
        .bind(ws)
        .bind(key)
        .bind(&hash)
        .bind(age_secs as f64)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let send = |key: &'static str| {
        app.client
            .post(format!("{}/v1/tiers", app.base))
            .bearer_auth(&app.key)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let r = send("fresh").await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "idempotency_in_progress");
    let r = send("abandoned").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let again = send("abandoned").await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(app.count("tiers").await, 3);
}
