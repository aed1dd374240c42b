//! Deliveries: every scheduled send of an SOP step to a group, its state
//! (`pending` → `sending` → `sent` | `failed` → … | `dead`; `missed`,
//! `awaiting_confirmation`, `confirmed`, `uncertain`), its attempts with the
//! platform's answers, and the workers that send them (through `platforms`).
//! A delivery is created by the scheduler only; one exists per (step,
//! group, member, slot), enforced by the database.

use std::sync::Arc;

pub mod limits;
pub mod model;
pub mod outbound;
pub mod repo;
pub mod route;
mod routes;
pub mod worker;

pub use routes::router;

/// This process's sending machinery: the rate limiter, the cached platform
/// access tokens and the signal that wakes the delivery workers when the
/// scheduler created deliveries (a substate of the app).
#[derive(Clone, Debug, Default)]
pub struct Senders {
    pub limiter: Arc<limits::RateLimiter>,
    pub tokens: Arc<crate::platforms::outbound::AccessTokens>,
    pub wakeup: Arc<tokio::sync::Notify>,
}
