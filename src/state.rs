//! The shared infrastructure every handler reads through `State<AppState>`
//! (cheap to clone): pool, settings, clock, HTTP metrics. It names no
//! feature. A feature's own runtime objects (the inbox writers, the
//! connection cache, the send limiter, the event subscribers) are substates
//! of the assembled application (`crate::app::App`), extracted with
//! `State<…>` through `FromRef`; a feature's router states which it needs.

use std::sync::Arc;

use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::metrics::HttpMetrics;

/// Shared state: pool, settings, clock, HTTP metrics.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<HttpMetrics>,
}

impl AppState {
    /// The shared state over `pool`.
    pub fn new(pool: PgPool, settings: Settings, clock: Arc<dyn Clock>) -> Self {
        Self { pool, settings: Arc::new(settings), clock, metrics: Arc::new(HttpMetrics::default()) }
    }
}
