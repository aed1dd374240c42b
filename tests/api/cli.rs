//! The real `shequn` binary: workspace and key commands, the OpenAPI
//! command, and configuration errors.

use std::process::Command;

use reqwest::{Method, StatusCode};

use crate::helpers::{fresh_database, TestApp};

fn shequn(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shequn"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .output()
        .expect("run shequn")
}

#[tokio::test]
async fn workspace_and_key_commands_print_json_that_works_against_the_api() {
    let (pool, url) = fresh_database().await;
    let out = shequn(&url, &["workspace", "create", "acme", "--timezone", "Europe/Berlin", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let ws = created["workspace_id"].as_str().unwrap().to_owned();
    let owner = created["api_key"].as_str().unwrap().to_owned();

    let out = shequn(&url, &["key", "create", "--workspace", &ws, "--role", "viewer", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let viewer = key["api_key"].as_str().unwrap().to_owned();

    let dup = shequn(&url, &["workspace", "create", "acme"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad = shequn(&url, &["key", "create", "--workspace", &ws, "--role", "god"]);
    assert!(!bad.status.success());

    // The keys work against a server on the same database.
    let app = TestApp::spawn_on(pool).await;
    let r = app.send(Method::GET, "/v1/workspace", Some(&owner), None).await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["timezone"].as_str()),
        (StatusCode::OK, Some("acme"), Some("Europe/Berlin"))
    );
    let r = app.send(Method::POST, "/v1/tags", Some(&viewer), Some(serde_json::json!({"name": "x"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = app.send(Method::GET, "/v1/audit-log", Some(&owner), None).await;
    assert!(log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor_type"] == "cli" && e["action"] == "api_key.create"));
}

#[tokio::test]
async fn the_openapi_command_prints_the_committed_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_shequn"))
        .arg("openapi")
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[tokio::test]
async fn a_bad_configuration_value_stops_the_binary_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_shequn"))
        .arg("migrate")
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .env("SHEQUN__SERVER__REQUEST_TIMEOUT_SECS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.request_timeout_secs"));
    let out = Command::new(env!("CARGO_BIN_EXE_shequn"))
        .arg("migrate")
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .env("DATABASE_URL", "postgres://user:hunter2@127.0.0.1:1/db")
        .env("SHEQUN__DATABASE__ACQUIRE_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn without_server_binaries_or_a_database_url_the_binary_explains_what_to_install() {
    let dir = std::env::temp_dir().join(format!(
        "shequn-test-{}-nobin-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_shequn"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .env("SHEQUN__EMBEDDED__BIN_DIR", "/nonexistent/bin")
        .env("SHEQUN__EMBEDDED__DATA_DIR", dir.join("pg"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apt-get install postgresql") && stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!dir.exists(), "nothing is created when the binaries are missing");
}

#[tokio::test]
async fn the_rollup_rebuild_command_recomputes_the_days_it_is_given() {
    let (pool, url) = fresh_database().await;
    let out = shequn(&url, &["workspace", "create", "acme", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let app = TestApp::spawn_on(pool.clone()).await;
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let ev = serde_json::json!([{"id": "e1", "type": "message_sent", "occurred_at": "2026-11-11T02:00:00Z",
        "member": {"platform": "generic", "external_id": "m1"}}]);
    assert_eq!(app.send(Method::POST, "/v1/events", Some(&key), Some(ev)).await.status, StatusCode::OK);
    shequn::metrics::store::rollup::drain(&pool).await.unwrap();
    sqlx::query("UPDATE metric_member_days SET messages = 7").execute(&pool).await.unwrap();

    let out = shequn(&url, &["rollup", "rebuild", "--from", "2026-11-11", "--to", "2026-11-11", "--workspace", "acme"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("recomputed 2026-11-11..=2026-11-11 of 1 workspace"));
    let messages: i32 = sqlx::query_scalar("SELECT messages FROM metric_member_days").fetch_one(&pool).await.unwrap();
    assert_eq!(messages, 1, "the day is what the raw events say again");

    for (args, says) in [
        (["--from", "2026-11-12", "--to", "2026-11-11", "--workspace", "acme"], "on or before --to"),
        (["--from", "2026-11-11", "--to", "2026-11-11", "--workspace", "nope"], "no workspace named `nope`"),
    ] {
        let out = shequn(&url, &[&["rollup", "rebuild"][..], &args[..]].concat());
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = shequn(&url, &["rollup", "rebuild", "--from", "11/11/2026", "--to", "2026-11-11"]);
    assert!(!out.status.success(), "a malformed day is refused");
}
