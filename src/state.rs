//! The one application state handed to every handler (cheap to clone).

use std::sync::Arc;

use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::Settings;
use crate::events::reactions::Reactions;
use crate::events::Ingestion;
use crate::http::metrics::HttpMetrics;

/// Shared state: pool, settings, clock, HTTP metrics.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<HttpMetrics>,
    /// Wakes the inbox processor when a webhook request is stored.
    pub inbox_wakeup: Arc<tokio::sync::Notify>,
    /// Group-committing writers of webhook requests (queued mode).
    pub intake: Arc<crate::hooks::intake::Intake>,
    /// Recently used connection records (webhooks), see [`crate::connections::cache`].
    pub connections: Arc<crate::connections::cache::ConnectionCache>,
    /// Outbound send rate limits of this process.
    pub limiter: Arc<crate::deliveries::limits::RateLimiter>,
    /// Wakes this process's delivery workers when its scheduler created deliveries.
    pub delivery_wakeup: Arc<tokio::sync::Notify>,
    /// Platform access tokens cached by this process (never printed).
    pub platform_tokens: Arc<crate::platforms::outbound::AccessTokens>,
    /// What storing events needs: the subscribers that follow stored events
    /// (`startup::subscribers`, see [`crate::events::reactions`]) and this
    /// process's platform-id caches.
    pub ingestion: Ingestion,
}

impl AppState {
    /// Builds the state (starts the intake writers: call inside the runtime).
    /// `reactions` are the subscribers to stored events (`startup::subscribers()`).
    pub fn new(pool: PgPool, settings: Settings, clock: Arc<dyn Clock>, reactions: Reactions) -> Self {
        Self {
            ingestion: Ingestion::new(reactions),
            platform_tokens: Arc::new(Default::default()),
            intake: Arc::new(crate::hooks::intake::Intake::start(pool.clone())),
            pool,
            settings: Arc::new(settings),
            clock,
            metrics: Arc::new(HttpMetrics::default()),
            inbox_wakeup: Arc::new(tokio::sync::Notify::new()),
            connections: Arc::new(Default::default()),
            limiter: Arc::new(Default::default()),
            delivery_wakeup: Arc::new(tokio::sync::Notify::new()),
        }
    }
}
