//! Database access: the pool, embedded migrations, and where the database
//! comes from (a configured URL or the embedded cluster).

pub mod embedded;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::Settings;
use embedded::{EmbeddedOptions, EmbeddedPostgres};

/// The migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database name used inside the embedded cluster.
pub const EMBEDDED_DATABASE: &str = "shequn";

/// A connected database, with the embedded cluster kept alive if we run one.
#[derive(Debug)]
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

/// Pool options from settings.
pub fn pool_options(settings: &Settings) -> PgPoolOptions {
    let d = &settings.database;
    PgPoolOptions::new()
        .max_connections(d.max_connections)
        .min_connections(d.min_connections)
        .acquire_timeout(Duration::from_secs(d.acquire_timeout_secs))
}

/// Embedded-cluster options from settings.
pub fn embedded_options(settings: &Settings) -> EmbeddedOptions {
    let e = &settings.embedded;
    EmbeddedOptions {
        data_dir: e.data_dir.clone(),
        bin_dir: (!e.bin_dir.is_empty()).then(|| e.bin_dir.clone().into()),
        os_user: (!e.os_user.is_empty()).then(|| e.os_user.clone()),
        ephemeral: false,
    }
}

/// Creates `name` in the cluster reached by `admin` unless it exists.
pub async fn ensure_database(admin: &PgConnectOptions, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(admin).await.context("connecting to the maintenance database")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        sqlx::query(&sql).execute(&mut conn).await.with_context(|| format!("creating database {name}"))?;
    }
    Ok(())
}

/// Connects to the configured database, or starts the embedded one.
pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
    if !settings.database.url.is_empty() {
        let opts = PgConnectOptions::from_str(&settings.database.url).context("parsing database.url")?;
        let pool = pool_options(settings)
            .connect_with(opts)
            .await
            .with_context(|| format!("connecting to {}", crate::config::redact_url(&settings.database.url)))?;
        return Ok(Database { pool, embedded: None });
    }
    let eopts = embedded_options(settings);
    let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&eopts)).await??;
    ensure_database(&pg.connect_options("postgres"), EMBEDDED_DATABASE).await?;
    let pool = pool_options(settings).connect_with(pg.connect_options(EMBEDDED_DATABASE)).await?;
    Ok(Database { pool, embedded: Some(pg) })
}

/// Runs pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("running migrations")
}

impl Database {
    /// Closes the pool and stops the embedded cluster if we started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            tokio::task::spawn_blocking(move || pg.stop()).await??;
        }
        Ok(())
    }
}
