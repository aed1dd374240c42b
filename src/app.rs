//! The assembled application state: the shared infrastructure
//! ([`AppState`]) and each feature's runtime objects, one field each. It
//! stands above every feature; handlers take the parts they need with
//! `State<…>` (each part is `FromRef<App>`), and a feature's router names
//! those parts in its bounds.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::Settings;
use crate::connections::cache::ConnectionCache;
use crate::deliveries::Senders;
use crate::events::reactions::Reactions;
use crate::events::Ingestion;
use crate::hooks::Inbox;
use crate::state::AppState;

/// Everything the handlers and workers of one process share.
#[derive(Clone, Debug)]
pub struct App {
    pub state: AppState,
    /// The subscribers that follow stored events and the platform-id caches.
    pub ingestion: Ingestion,
    pub inbox: Inbox,
    /// Recently used connection records (webhooks).
    pub connections: Arc<ConnectionCache>,
    pub senders: Senders,
    /// The group-committing check-in writers (API check-ins).
    pub check_ins: crate::checkin::writer::Writers,
    /// The group-committing coupon claim writer (API claims).
    pub claims: crate::coupons::writer::ClaimWriter,
    /// The group-committing flash-sale reservation writer (API reservations).
    pub reservations: crate::flash_sales::writer::ReservationWriter,
    /// Visits to channel entry links: limit per address, tally, HTTP client.
    pub channel_visits: crate::channels::Visits,
    /// The campaign engines' live template values (`coupon.*`, `flash_sale.*`).
    pub live: crate::contents::LiveVars,
}

impl App {
    /// Builds the application (starts the intake writers: call inside the
    /// runtime). `reactions` are the subscribers to stored events
    /// (`startup::subscribers()`).
    pub fn new(pool: PgPool, settings: Settings, clock: Arc<dyn Clock>, reactions: Reactions) -> Self {
        let http = crate::deliveries::worker::http_client(&settings.delivery).unwrap_or_default();
        let channel_visits = crate::channels::Visits::start(&pool, http);
        Self {
            inbox: Inbox::start(pool.clone()),
            check_ins: crate::checkin::writer::Writers::start(pool.clone(), reactions.clone()),
            claims: crate::coupons::writer::ClaimWriter::start(&pool, reactions.clone()),
            reservations: crate::flash_sales::writer::ReservationWriter::start(&pool),
            state: AppState::new(pool, settings, clock),
            ingestion: Ingestion::new(reactions),
            connections: Arc::default(),
            senders: Senders::default(),
            channel_visits,
            live: crate::contents::LiveVars::new(vec![
                Arc::new(crate::coupons::live::Coupons),
                Arc::new(crate::flash_sales::live::FlashSales),
                Arc::new(crate::lotteries::live::Lotteries),
            ]),
        }
    }
}

impl App {
    /// What the delivery workers need.
    pub fn sending(&self) -> crate::deliveries::worker::Sending<'_> {
        crate::deliveries::worker::Sending {
            state: &self.state,
            senders: &self.senders,
            connections: &self.connections,
        }
    }

    /// What storing and processing webhook requests needs.
    pub fn webhooks(&self) -> crate::hooks::service::Webhooks<'_> {
        crate::hooks::service::Webhooks {
            state: &self.state,
            inbox: &self.inbox,
            connections: &self.connections,
            ingestion: &self.ingestion,
        }
    }
}

impl std::ops::Deref for App {
    type Target = AppState;

    /// The shared infrastructure, as every part of the code reads it.
    fn deref(&self) -> &AppState {
        &self.state
    }
}

impl FromRef<App> for AppState {
    fn from_ref(app: &App) -> Self {
        app.state.clone()
    }
}

impl FromRef<App> for crate::flash_sales::writer::ReservationWriter {
    fn from_ref(app: &App) -> Self {
        app.reservations.clone()
    }
}

impl FromRef<App> for crate::channels::Visits {
    fn from_ref(app: &App) -> Self {
        app.channel_visits.clone()
    }
}

impl FromRef<App> for crate::contents::LiveVars {
    fn from_ref(app: &App) -> Self {
        app.live.clone()
    }
}

impl FromRef<App> for Ingestion {
    fn from_ref(app: &App) -> Self {
        app.ingestion.clone()
    }
}

impl FromRef<App> for crate::checkin::writer::Writers {
    fn from_ref(app: &App) -> Self {
        app.check_ins.clone()
    }
}

impl FromRef<App> for crate::coupons::writer::ClaimWriter {
    fn from_ref(app: &App) -> Self {
        app.claims.clone()
    }
}

impl FromRef<App> for Inbox {
    fn from_ref(app: &App) -> Self {
        app.inbox.clone()
    }
}

impl FromRef<App> for Arc<ConnectionCache> {
    fn from_ref(app: &App) -> Self {
        app.connections.clone()
    }
}
