//! Configuration: `config/default.toml` → `config/<SHEQUN_ENV>.toml` →
//! `SHEQUN__SECTION__KEY` environment variables (and `DATABASE_URL`).
//! The merged tree is deserialised strictly (unknown keys are refused) and
//! validated; every error names the key. Secrets are never printed: the
//! `Debug` of [`DatabaseSettings`] redacts the URL's password.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

/// The built-in defaults (the same text as `config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub embedded: EmbeddedSettings,
    pub log: LogSettings,
    pub ingest: IngestSettings,
    pub workers: WorkerSettings,
    pub delivery: DeliverySettings,
    pub webhooks: WebhookSettings,
    pub auth: AuthSettings,
}

/// `[auth]`: console sign-in, sessions and one-time links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    pub invitation_hours: i64,
    pub reset_minutes: i64,
    pub password_min_length: usize,
    pub login_failures_per_account: i32,
    pub login_failures_per_address: i32,
    pub login_window_minutes: i64,
    /// Take the client address from `X-Forwarded-For` (behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// Visits a client address may make to channel entry links (`/c/{code}`) in a minute.
    pub channel_visits_per_minute: u32,
}

impl AuthSettings {
    fn validate(&self) -> anyhow::Result<()> {
        if !(5..=10_080).contains(&self.session_idle_minutes) {
            bail!("configuration key `auth.session_idle_minutes`: must be 5..=10080");
        }
        if !(1..=8_760).contains(&self.session_max_hours) || self.session_max_hours * 60 < self.session_idle_minutes {
            bail!("configuration key `auth.session_max_hours`: must be 1..=8760 and not shorter than the idle limit");
        }
        if !(1..=720).contains(&self.invitation_hours) {
            bail!("configuration key `auth.invitation_hours`: must be 1..=720");
        }
        if !(5..=1_440).contains(&self.reset_minutes) {
            bail!("configuration key `auth.reset_minutes`: must be 5..=1440");
        }
        if !(8..=128).contains(&self.password_min_length) {
            bail!("configuration key `auth.password_min_length`: must be 8..=128");
        }
        if !(1..=1_000).contains(&self.login_failures_per_account)
            || !(1..=100_000).contains(&self.login_failures_per_address)
        {
            bail!("configuration key `auth.login_failures_per_account`: 1..=1000 (per address: 1..=100000)");
        }
        if !(1..=1_440).contains(&self.login_window_minutes) {
            bail!("configuration key `auth.login_window_minutes`: must be 1..=1440");
        }
        if !(1..=1_000_000).contains(&self.channel_visits_per_minute) {
            bail!("configuration key `auth.channel_visits_per_minute`: must be 1..=1000000");
        }
        Ok(())
    }
}

/// `[webhooks]`: outbound webhooks to the operator's endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub workers: bool,
    pub allow_private_destinations: bool,
    pub max_in_flight_per_endpoint: i64,
    pub concurrency: usize,
    pub request_timeout_secs: u64,
    pub lease_secs: u64,
    pub tick_millis: u64,
    pub retry_schedule_secs: Vec<u64>,
    pub disable_after_secs: u64,
    pub rotation_overlap_secs: u64,
}

/// `[delivery]`: the SOP scheduler and the delivery workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    pub scheduler: bool,
    pub workers: bool,
    pub tick_millis: u64,
    pub misfire_grace_secs: u64,
    pub batch_size: i64,
    pub sync_interval_secs: u64,
    pub concurrency: usize,
    pub max_attempts: i32,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    pub lease_secs: u64,
    pub request_timeout_secs: u64,
    pub rate_limits: bool,
    pub reminder_interval_secs: u64,
}

/// `[ingest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub webhook_mode: WebhookMode,
}

/// When webhook requests are turned into events.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookMode {
    /// Answer once stored; the inbox processor ingests in batches.
    Queued,
    /// Process before answering.
    Inline,
}

/// `[workers]`: background jobs of `serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub inbox_processor: bool,
    pub inbox_interval_secs: u64,
    pub inbox_batch_size: i64,
    pub event_partitions: bool,
    pub metric_rollups: bool,
    pub rollup_interval_millis: u64,
    pub health_watch: bool,
    pub health_watch_interval_secs: u64,
    pub campaign_jobs: bool,
    pub campaign_jobs_interval_secs: u64,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub request_timeout_secs: u64,
    pub import_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    pub shutdown_grace_secs: u64,
    pub public_url: String,
}

/// `[database]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// `[embedded]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    pub data_dir: PathBuf,
    pub bin_dir: String,
    pub os_user: String,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Replaces the password of a URL with `***` (for logs and Debug).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => {
            format!("{}{}:***{}", &url[..scheme_end + 3], &authority[..colon], &rest[at..])
        }
        _ => url.to_owned(),
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Parses an environment value as a TOML value when it is one (numbers,
/// booleans, arrays), else keeps it as a string.
fn env_value(raw: &str) -> toml::Value {
    let trimmed = raw.trim();
    if trimmed.starts_with('[') || trimmed == "true" || trimmed == "false" || trimmed.parse::<i64>().is_ok() {
        if let Ok(t) = format!("v = {trimmed}").parse::<toml::Table>() {
            if let Some(v) = t.get("v") {
                return v.clone();
            }
        }
    }
    toml::Value::String(raw.to_owned())
}

fn set_path(root: &mut toml::Value, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        let table = cur.as_table_mut().ok_or_else(|| anyhow!("`{}` is not a section", path[..i].join(".")))?;
        if i + 1 == path.len() {
            table.insert(key.clone(), value);
            return Ok(());
        }
        cur = table.entry(key.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
    }
    Ok(())
}

impl Settings {
    /// Loads from the real environment and `./config` (or `SHEQUN_CONFIG_DIR`).
    pub fn load() -> anyhow::Result<Self> {
        let dir = std::env::var_os("SHEQUN_CONFIG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("config"));
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(&dir, &env)
    }

    /// Loads from a config folder and an explicit environment (tests).
    pub fn load_from(dir: &Path, env: &[(String, String)]) -> anyhow::Result<Self> {
        let default_path = dir.join("default.toml");
        let default_text = match std::fs::read_to_string(&default_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_TOML.to_owned(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", default_path.display())),
        };
        let mut tree: toml::Value = toml::Value::Table(
            default_text.parse::<toml::Table>().with_context(|| format!("parsing {}", default_path.display()))?,
        );
        if let Some((_, name)) = env.iter().find(|(k, _)| k == "SHEQUN_ENV") {
            if !name.is_empty() {
                let p = dir.join(format!("{name}.toml"));
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("SHEQUN_ENV={name} but {} cannot be read", p.display()))?;
                let over = text.parse::<toml::Table>().with_context(|| format!("parsing {}", p.display()))?;
                merge(&mut tree, toml::Value::Table(over));
            }
        }
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("SHEQUN__") {
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                if path.iter().any(|p| p.is_empty()) {
                    bail!("environment variable {k}: empty key segment");
                }
                set_path(&mut tree, &path, env_value(v)).with_context(|| format!("environment variable {k}"))?;
            }
        }
        if let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") {
            set_path(&mut tree, &["database".into(), "url".into()], toml::Value::String(url.clone()))?;
        }
        let settings: Settings = serde_path_to_error::deserialize(tree)
            .map_err(|e| anyhow!("configuration key `{}`: {}", e.path(), e.inner()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Semantic checks; each error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let s = &self.server;
        if s.host.parse::<std::net::IpAddr>().is_err() && s.host != "localhost" {
            bail!("configuration key `server.host`: `{}` is not an IP address", s.host);
        }
        if s.request_timeout_secs == 0 || s.request_timeout_secs > 3600 {
            bail!("configuration key `server.request_timeout_secs`: must be 1..=3600");
        }
        if s.import_timeout_secs < s.request_timeout_secs || s.import_timeout_secs > 86_400 {
            bail!(
                "configuration key `server.import_timeout_secs`: must be between server.request_timeout_secs and 86400"
            );
        }
        if s.body_limit_bytes < 1024 || s.body_limit_bytes > 1 << 30 {
            bail!("configuration key `server.body_limit_bytes`: must be between 1 KiB and 1 GiB");
        }
        for o in &s.cors_allowed_origins {
            if o != "*" && axum::http::HeaderValue::from_str(o).is_err() {
                bail!("configuration key `server.cors_allowed_origins`: `{o}` is not a valid origin");
            }
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                bail!("configuration key `server.cors_allowed_origins`: `{o}` must start with http:// or https://");
            }
        }
        let d = &self.database;
        if !(d.url.is_empty() || d.url.starts_with("postgres://") || d.url.starts_with("postgresql://")) {
            bail!("configuration key `database.url`: must start with postgres:// or postgresql://");
        }
        if d.max_connections == 0 || d.min_connections > d.max_connections {
            bail!("configuration key `database.max_connections`: must be ≥ 1 and ≥ database.min_connections");
        }
        if d.acquire_timeout_secs == 0 {
            bail!("configuration key `database.acquire_timeout_secs`: must be ≥ 1");
        }
        if self.embedded.data_dir.as_os_str().is_empty() {
            bail!("configuration key `embedded.data_dir`: must not be empty");
        }
        if self.workers.inbox_interval_secs == 0 {
            bail!("configuration key `workers.inbox_interval_secs`: must be ≥ 1");
        }
        if !(50..=3_600_000).contains(&self.workers.rollup_interval_millis) {
            bail!("configuration key `workers.rollup_interval_millis`: must be 50..=3600000");
        }
        if !(10..=86_400).contains(&self.workers.health_watch_interval_secs) {
            bail!("configuration key `workers.health_watch_interval_secs`: must be 10..=86400");
        }
        if !(1..=86_400).contains(&self.workers.campaign_jobs_interval_secs) {
            bail!("configuration key `workers.campaign_jobs_interval_secs`: must be 1..=86400");
        }
        if !(1..=5000).contains(&self.workers.inbox_batch_size) {
            bail!("configuration key `workers.inbox_batch_size`: must be 1..=5000");
        }
        let dl = &self.delivery;
        if !(10..=60_000).contains(&dl.tick_millis) {
            bail!("configuration key `delivery.tick_millis`: must be 10..=60000");
        }
        if !(1..=10_000).contains(&dl.batch_size) {
            bail!("configuration key `delivery.batch_size`: must be 1..=10000");
        }
        if !(1..=1024).contains(&dl.concurrency) {
            bail!("configuration key `delivery.concurrency`: must be 1..=1024");
        }
        if !(1..=100).contains(&dl.max_attempts) {
            bail!("configuration key `delivery.max_attempts`: must be 1..=100");
        }
        if dl.backoff_base_secs == 0 || dl.backoff_max_secs < dl.backoff_base_secs {
            bail!("configuration key `delivery.backoff_max_secs`: must be ≥ delivery.backoff_base_secs ≥ 1");
        }
        if dl.request_timeout_secs == 0 || dl.lease_secs <= dl.request_timeout_secs {
            bail!("configuration key `delivery.lease_secs`: must exceed delivery.request_timeout_secs ≥ 1");
        }
        if dl.reminder_interval_secs < 60 {
            bail!("configuration key `delivery.reminder_interval_secs`: must be ≥ 60");
        }
        if dl.sync_interval_secs == 0 {
            bail!("configuration key `delivery.sync_interval_secs`: must be ≥ 1");
        }
        self.webhooks.validate()?;
        self.auth.validate()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bail!("configuration key `log.level`: `{}` is not a valid filter", self.log.level);
        }
        Ok(())
    }

    /// The URL people use to reach this server.
    pub fn public_url(&self, bound_port: u16) -> String {
        if !self.server.public_url.is_empty() {
            return self.server.public_url.trim_end_matches('/').to_owned();
        }
        format!("http://{}:{}", self.server.host, bound_port)
    }
}

impl WebhookSettings {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=1024).contains(&self.max_in_flight_per_endpoint) {
            bail!("configuration key `webhooks.max_in_flight_per_endpoint`: must be 1..=1024");
        }
        if !(1..=4096).contains(&self.concurrency) {
            bail!("configuration key `webhooks.concurrency`: must be 1..=4096");
        }
        if !(1..=300).contains(&self.request_timeout_secs) || self.lease_secs <= self.request_timeout_secs {
            bail!("configuration key `webhooks.lease_secs`: must exceed webhooks.request_timeout_secs (1..=300)");
        }
        if !(10..=60_000).contains(&self.tick_millis) {
            bail!("configuration key `webhooks.tick_millis`: must be 10..=60000");
        }
        if self.retry_schedule_secs.len() > 50 || self.retry_schedule_secs.iter().any(|s| *s > 7 * 86_400) {
            bail!("configuration key `webhooks.retry_schedule_secs`: at most 50 waits of at most 7 days");
        }
        if self.disable_after_secs < 60 {
            bail!("configuration key `webhooks.disable_after_secs`: must be ≥ 60");
        }
        if !(60..=30 * 86_400).contains(&self.rotation_overlap_secs) {
            bail!("configuration key `webhooks.rotation_overlap_secs`: must be 60..=2592000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn nowhere() -> PathBuf {
        PathBuf::from("/nonexistent-shequn-config")
    }

    #[test]
    fn defaults_load_without_any_file() {
        let s = Settings::load_from(&nowhere(), &[]).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.host, "127.0.0.1");
        assert!(s.database.url.is_empty());
        assert_eq!(s.log.format, LogFormat::Pretty);
    }

    #[test]
    fn environment_overrides_nested_keys_with_typed_values() {
        let s = Settings::load_from(
            &nowhere(),
            &env(&[
                ("SHEQUN__SERVER__PORT", "9001"),
                ("SHEQUN__LOG__FORMAT", "json"),
                ("SHEQUN__SERVER__CORS_ALLOWED_ORIGINS", "[\"https://admin.example.com\"]"),
                ("DATABASE_URL", "postgres://u:secret@db/x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.server.cors_allowed_origins, vec!["https://admin.example.com".to_owned()]);
        assert_eq!(s.database.url, "postgres://u:secret@db/x");
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Settings::load_from(&nowhere(), &env(&[("SHEQUN__SERVER__PORT", "eighty")])).unwrap_err();
        assert!(e.to_string().contains("server.port"), "{e}");
        let e = Settings::load_from(&nowhere(), &env(&[("SHEQUN__SERVER__PROT", "1")])).unwrap_err();
        assert!(e.to_string().contains("server"), "{e}");
        let e = Settings::load_from(&nowhere(), &env(&[("SHEQUN__LOG__FORMAT", "xml")])).unwrap_err();
        assert!(e.to_string().contains("log.format"), "{e}");
        let e = Settings::load_from(&nowhere(), &env(&[("DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(e.to_string().contains("database.url"), "{e}");
        let e = Settings::load_from(&nowhere(), &env(&[("SHEQUN_ENV", "nope")])).unwrap_err();
        assert!(e.to_string().contains("nope.toml"), "{e}");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
