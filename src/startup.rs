//! Building and running the server: database (configured or embedded),
//! migrations, the first-start bootstrap, the listener, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::db::{self, Database};
use crate::events::reactions::Reactions;
use crate::workspaces::service::{bootstrap, NewWorkspace};

/// Everything that follows from stored events, in the order it runs: the
/// membership stints first (the metric queues read which groups they touched
/// from the same events), the outbound webhook messages of joins and leaves,
/// the metric queues, points from earning rules and refunds, then check-ins
/// typed in chat. The one list of
/// subscribers; see [`crate::events::reactions`].
pub fn subscribers() -> Reactions {
    let mut list: Vec<Arc<dyn crate::events::reactions::Reaction>> = vec![
        Arc::new(crate::memberships::reaction::Stints),
        Arc::new(crate::memberships::reaction::Announce),
        Arc::new(crate::referrals::reaction::InviteJoins),
        Arc::new(crate::channels::states::WecomJoins),
        Arc::new(crate::metrics::store::reaction::RollupQueue),
        Arc::new(crate::points::reaction::Earnings),
        Arc::new(crate::flash_sales::reaction::PaidReservations),
    ];
    // The coupon redemptions it records are stored events the ones above handle.
    let before = Reactions::new(list.clone());
    list.push(Arc::new(crate::coupons::reaction::OrderCoupons { before }));
    // Last: the check-ins it makes are stored events the ones above handle.
    let before = Reactions::new(list.clone());
    list.push(Arc::new(crate::checkin::reaction::ChatCheckIns { before }));
    Reactions::new(list)
}

/// A built, not yet serving, application.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    db: Database,
    state: App,
    /// The workspace created on first start, if this start created one.
    pub bootstrapped: Option<NewWorkspace>,
}

impl Application {
    /// Opens the database, migrates, binds and bootstraps.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = db::open(&settings).await?;
        if settings.database.migrate_on_start {
            db::migrate(&db.pool).await?;
        }
        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
        let bootstrapped = bootstrap(&db.pool).await?;
        let state = App::new(db.pool.clone(), settings, clock, subscribers());
        Ok(Self { listener, db, state, bootstrapped })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The shared state (tests use its pool).
    pub fn state(&self) -> &App {
        &self.state
    }

    /// Whether the database is the embedded cluster started by this process.
    pub fn runs_embedded_database(&self) -> bool {
        self.db.embedded.as_ref().is_some_and(|e| e.owns_cluster())
    }

    /// Serves until `shutdown` fires, lets in-flight requests finish (up to
    /// the configured grace), then closes the pool and stops an embedded cluster.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let app = crate::api::router(self.state.clone());
        let jobs = crate::jobs::spawn_all(&self.state, &shutdown);
        let token = shutdown.clone();
        // The peer address feeds the per-address sign-in limit.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move { token.cancelled().await });
        let mut server = tokio::spawn(async move { server.await });
        // The server may finish first on a graceful shutdown too (select!
        // picks a ready branch at random): either way the jobs are stopped
        // and awaited before the database closes.
        let stopped = tokio::select! {
            res = &mut server => Some(res),
            _ = shutdown.cancelled() => None,
        };
        let result = match stopped {
            Some(res) => res.context("server task").and_then(|r| r.context("serving")),
            None => match tokio::time::timeout(grace, server).await {
                Ok(res) => res.context("server task").and_then(|r| r.context("serving")),
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish within the shutdown grace");
                    Ok(())
                }
            },
        };
        shutdown.cancel();
        for job in jobs {
            let _ = tokio::time::timeout(grace, job).await;
        }
        self.db.close().await?;
        result
    }
}

fn print_banner(settings: &Settings, port: u16, created: Option<&NewWorkspace>, owner_link: Option<&str>) {
    let base = settings.public_url(port);
    println!("Shequn is listening on {base}");
    println!("  API docs:     {base}/docs   (OpenAPI: {base}/openapi.json)");
    println!("  Health check: {base}/healthz   readiness: {base}/readyz");
    if let Some(nw) = created {
        println!();
        println!("First start: created workspace `{}` ({})", nw.workspace.name, nw.workspace.id);
        println!("  Owner API key (shown once, store it now): {}", nw.owner_key.key);
        println!("  Try: curl -H 'Authorization: Bearer {}' {base}/v1/workspace", nw.owner_key.key);
        if let Some(link) = owner_link {
            println!("  Console: open this one-time link to choose the owner's e-mail and password:");
            println!("    {link}");
        }
    }
}

/// `shequn serve`: runs until SIGTERM or ctrl-c.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone(), Arc::new(SystemClock)).await?;
    let owner_link = match &app.bootstrapped {
        Some(nw) => {
            let base = settings.public_url(app.port());
            let made = crate::users::service::owner_link(
                &app.state().pool,
                &settings,
                &base,
                nw.workspace.id,
                crate::audit::Actor::System,
            )
            .await;
            match made {
                Ok(c) => Some(c.url),
                Err(e) => {
                    tracing::warn!(error = %e, "could not create the owner's console link; use `shequn user invite`");
                    None
                }
            }
        }
        None => None,
    };
    print_banner(&settings, app.port(), app.bootstrapped.as_ref(), owner_link.as_deref());
    tracing::info!(port = app.port(), embedded_db = app.runs_embedded_database(), "serving");
    let token = CancellationToken::new();
    let signal_token = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        signal_token.cancel();
    });
    app.run_until(token).await
}

/// `shequn worker`: the background jobs alone, until SIGTERM or ctrl-c;
/// in-flight deliveries finish before it exits.
pub async fn worker(settings: Settings) -> anyhow::Result<()> {
    let db = db::open(&settings).await?;
    if settings.database.migrate_on_start {
        db::migrate(&db.pool).await?;
    }
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let state = App::new(db.pool.clone(), settings, Arc::new(SystemClock), subscribers());
    let token = CancellationToken::new();
    let jobs = crate::jobs::spawn_all(&state, &token);
    tracing::info!(jobs = jobs.len(), "worker running");
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    token.cancel();
    for job in jobs {
        let _ = tokio::time::timeout(grace, job).await;
    }
    db.close().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
