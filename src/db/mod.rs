//! Database access: the pool, embedded migrations, and where the database
//! comes from (a configured URL or the embedded cluster).

pub mod embedded;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

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

/// A small pool of its own beside `pool` (the same server and options),
/// opened lazily, for a group-committing writer: its commits must not wait
/// for a connection behind the request handlers' reads, which in a burst
/// queue on the shared pool by the hundred. Idle connections close after a
/// minute.
pub fn side_pool(pool: &PgPool, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .idle_timeout(Duration::from_secs(60))
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with((*pool.connect_options()).clone())
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

/// The constraint a unique, foreign-key or check violation names.
pub fn constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Whether a database error is worth retrying the whole transaction for
/// (deadlock or serialization failure).
pub fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
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

/// Begins a transaction that a cancelled caller cannot leave open on a
/// pooled connection. sqlx 0.8.6's `begin()` sends `BEGIN` and counts the
/// transaction only once PostgreSQL answers, so a future dropped in between
/// (a client that went away mid-request — a browser leaving a page — or a
/// timeout) hands the connection back to the pool inside a transaction that
/// nobody ends: the next borrower's `BEGIN` warns "there is already a
/// transaction in progress" and a read snapshot's `SET TRANSACTION` fails
/// (upstream issues 4385 and 4393). Here the begin runs on a task of its own:
/// it completes even when the caller is gone, and a transaction nobody takes
/// is dropped there, which rolls it back.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await }).await.map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
}

/// [`begin`] on a connection idle now, or None when the pool has none (the
/// connection is taken here, the begin runs on its own task).
pub async fn try_begin(pool: &PgPool) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let Some(conn) = pool.try_acquire() else { return Ok(None) };
    tokio::spawn(async move { Transaction::begin(conn, None).await })
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
        .map(Some)
}

/// A read-only snapshot: every query of one report sees the same data.
pub async fn read_snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = begin(pool).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    Ok(tx)
}

/// A second read-only transaction on `tx`'s snapshot (a [`read_snapshot`]), so a report's
/// independent reads can run at once on two connections and still see the
/// same data — or None when the pool has no idle connection (the reads then
/// run one after the other on `tx`: waiting for a second connection while
/// holding one could starve the pool).
pub async fn shared_snapshot(
    pool: &PgPool,
    tx: &mut sqlx::PgConnection,
) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let Some(mut second) = try_begin(pool).await? else { return Ok(None) };
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    // The identifier comes from PostgreSQL (hex digits and dashes); the
    // statement takes no parameters, so refuse anything else outright.
    if id.is_empty() || !id.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-') {
        return Ok(None);
    }
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *second).await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'")).execute(&mut *second).await?;
    Ok(Some(second))
}

/// Runs two independent reads of one snapshot: `a` on `tx`, `b` on a
/// [`shared_snapshot`] at the same time — or both on `tx`, one after the
/// other, when the pool has no idle connection. Either way both see exactly
/// the data `tx` sees.
pub async fn snapshot_reads<A, B>(
    pool: &PgPool,
    tx: &mut sqlx::PgConnection,
    a: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<A, sqlx::Error>,
    b: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<B, sqlx::Error>,
) -> Result<(A, B), sqlx::Error> {
    match shared_snapshot(pool, &mut *tx).await? {
        Some(mut other) => tokio::try_join!(a(tx), b(&mut other)),
        None => {
            let first = a(&mut *tx).await?;
            Ok((first, b(tx).await?))
        }
    }
}
