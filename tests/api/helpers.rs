//! Test harness: one PostgreSQL for the whole run (`DATABASE_URL` if set,
//! else a private throwaway cluster started with the same embedded code the
//! server uses), a template database migrated once, and per test a fresh
//! database cloned from it plus the real app on 127.0.0.1:0.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use chrono::{TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shequn::app::App;
use shequn::audit::Actor;
use shequn::clock::ManualClock;
use shequn::config::Settings;
use shequn::db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use shequn::events::reactions::{Reaction, Reactions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

struct Cluster {
    admin: PgConnectOptions,
    template: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

fn remove_stale_clusters() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) =
            name.strip_prefix("shequn-test-").and_then(|s| s.split('-').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only probes for the process.
        if unsafe { libc::kill(pid, 0) } != 0 {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn start_cluster() -> Result<Cluster, String> {
    let admin = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => PgConnectOptions::from_str(&url).map_err(|e| e.to_string())?,
        _ => {
            remove_stale_clusters();
            let dir = std::env::temp_dir().join(format!(
                "shequn-test-{}-{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            ));
            let pg = EmbeddedPostgres::start(&EmbeddedOptions {
                data_dir: dir.join("pg"),
                bin_dir: None,
                os_user: None,
                ephemeral: true,
            })
            .map_err(|e| format!("{e:#}"))?;
            let opts = pg.connect_options("postgres");
            // Lives until the test process exits; the postmaster dies with it.
            std::mem::forget(pg);
            opts
        }
    };
    let template = format!("shequn_tpl_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect_with(&admin).await.map_err(|e| e.to_string())?;
        drop_stale_databases(&mut conn).await;
        sqlx::query(&format!("CREATE DATABASE {template}")).execute(&mut conn).await.map_err(|e| e.to_string())?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin.clone().database(&template))
            .await
            .map_err(|e| e.to_string())?;
        shequn::db::migrate(&pool).await.map_err(|e| format!("{e:#}"))?;
        pool.close().await;
        Ok::<_, String>(())
    })?;
    Ok(Cluster { admin, template })
}

/// Drops test databases of earlier runs on a shared server: their names carry
/// a UUIDv7, so those over an hour old belong to runs that have ended.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname ~ '^(t|shequn_tpl)_[0-9a-f]{32}$'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in names {
        let Some(hex) = name.rsplit('_').next() else { continue };
        let Ok(id) = uuid::Uuid::parse_str(hex) else { continue };
        let Some((secs, _)) = id.get_timestamp().map(|t| t.to_unix()) else { continue };
        if std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs) < hour_ago {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *conn).await;
        }
    }
}

fn cluster() -> &'static Cluster {
    let c = CLUSTER.get_or_init(|| {
        std::thread::spawn(start_cluster).join().unwrap_or_else(|_| Err("cluster start panicked".into()))
    });
    match c {
        Ok(c) => c,
        Err(e) => panic!("test database unavailable: {e}"),
    }
}

/// A fresh, migrated, empty database: its pool and a URL for child processes.
pub async fn fresh_database() -> (PgPool, String) {
    let c = cluster();
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect_with(&c.admin).await.expect("admin connection");
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {}", c.template))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let opts = c.admin.clone().database(&name);
    let url = match (std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()), opts.get_socket()) {
        (Some(base), _) => with_database(&base, &name),
        (None, Some(dir)) => {
            format!("postgres://{}@localhost:{}/{name}?host={}", opts.get_username(), opts.get_port(), dir.display())
        }
        (None, None) => format!("postgres://{}@{}:{}/{name}", opts.get_username(), opts.get_host(), opts.get_port()),
    };
    let pool = PgPoolOptions::new().max_connections(8).connect_with(opts).await.expect("test pool");
    (pool, url)
}

/// `url` with its database name replaced (credentials and options kept).
fn with_database(url: &str, name: &str) -> String {
    let (main, query) = url.split_once('?').map(|(m, q)| (m, format!("?{q}"))).unwrap_or((url, String::new()));
    let authority_start = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[authority_start..].find('/') {
        Some(i) => &main[..authority_start + i],
        None => main,
    };
    format!("{base}/{name}{query}")
}

/// A fresh, migrated, empty database.
pub async fn fresh_pool() -> PgPool {
    fresh_database().await.0
}

/// Settings for tests: defaults from no file.
pub fn test_settings() -> Settings {
    Settings::load_from(&PathBuf::from("/nonexistent"), &[]).expect("default settings")
}

/// A running app with one workspace and its owner key.
pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub key: String,
    pub workspace_id: String,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub state: App,
}

/// A response: status and JSON body (Null when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The envelope's error code.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    /// The first detail's field.
    pub fn field(&self) -> &str {
        self.body["error"]["details"][0]["field"].as_str().unwrap_or("")
    }
    /// `body.id` as a string.
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_owned()
    }
}

impl TestApp {
    /// Starts an app on a fresh database.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(test_settings()).await
    }

    /// Starts an app on an existing database (the workspace `test` is added).
    pub async fn spawn_on(pool: PgPool) -> TestApp {
        Self::start(pool, test_settings()).await
    }

    /// Starts an app with custom settings.
    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::start(fresh_pool().await, settings).await
    }

    /// Starts an app whose stored events are also handed to `extra`
    /// (after the built-in subscribers).
    pub async fn spawn_reacting(extra: Vec<Arc<dyn Reaction>>) -> TestApp {
        let mut list = shequn::startup::subscribers().list();
        list.extend(extra);
        Self::start_with(fresh_pool().await, test_settings(), Reactions::new(list)).await
    }

    async fn start(pool: PgPool, settings: Settings) -> TestApp {
        Self::start_with(pool, settings, shequn::startup::subscribers()).await
    }

    async fn start_with(pool: PgPool, settings: Settings, reactions: Reactions) -> TestApp {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap());
        let nw = shequn::workspaces::service::create_workspace(&pool, "test", "Asia/Shanghai", Actor::System)
            .await
            .expect("workspace");
        let state = App::new(pool.clone(), settings, Arc::new(clock.clone()), reactions);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = shequn::api::router(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await
                .expect("serve")
        });
        TestApp {
            base: format!("http://{addr}"),
            pool,
            key: nw.owner_key.key,
            workspace_id: nw.workspace.id.to_string(),
            clock,
            client: reqwest::Client::new(),
            state,
        }
    }

    /// Another workspace in the same database, returning its owner key.
    pub async fn other_workspace(&self, name: &str) -> String {
        shequn::workspaces::service::create_workspace(&self.pool, name, "UTC", Actor::System)
            .await
            .expect("workspace")
            .owner_key
            .key
    }

    /// A key of `role` in this app's workspace.
    pub async fn key_with_role(&self, role: &str) -> String {
        let r = self.post("/v1/api-keys", serde_json::json!({"role": role, "name": role})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["key"].as_str().unwrap().to_owned()
    }

    /// Sends a request with an explicit key (None: no Authorization) and raw body.
    pub async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        to_resp(req.send().await.expect("request")).await
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body);
        to_resp(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, Some(&self.key), None).await
    }
    /// A GET answered with text (CSV): asserts 200 and `text/csv`.
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.client.get(format!("{}{}", self.base, path)).bearer_auth(&self.key).send().await.expect("request");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
        r.text().await.expect("body")
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(&self.key), Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(&self.key), Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(&self.key), Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, Some(&self.key), None).await
    }

    /// Runs the inbox processor until no stored webhook request is left.
    pub async fn drain_inbox(&self) -> usize {
        shequn::jobs::drain_inbox(&self.state).await.expect("inbox processing")
    }

    /// Rows in a table of this database (to prove nothing changed).
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&self.pool).await.expect("count")
    }
}

pub async fn to_resp(res: reqwest::Response) -> Resp {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, body, headers }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the real `shequn` binary (`serve`) on `url` and `port` with extra settings.
pub fn spawn_binary(url: &str, port: u16, env: &[(&str, &str)]) -> std::process::Child {
    spawn_command(&[], url, port, env)
}

/// Starts the real `shequn` binary with arguments.
pub fn spawn_command(args: &[&str], url: &str, port: u16, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_shequn"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .env("SHEQUN__SERVER__PORT", port.to_string())
        .env("SHEQUN__LOG__LEVEL", "error")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start shequn")
}

/// Waits until the server at `base` answers `/readyz`.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server did not become ready");
}

/// Waits for a child process without blocking the test's runtime (which may
/// be serving the fake platform the child is talking to).
pub async fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "the process did not exit");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
