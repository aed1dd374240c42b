//! Inbound chat-platform webhooks: `/hooks/{platform}/{connection_id}`.
//!
//! Invariants: the signature is checked over the exact raw bytes, in
//! constant time, with the current credentials or (during a rotation's
//! grace) the previous ones; a refused request stores nothing but a counter
//! and a log line; a 2xx is sent only after the raw request is durably in the
//! inbox; a stored request is never lost — processing failures stay in the
//! inbox with their error (`GET /v1/inbox?status=failed`,
//! `POST /v1/inbox/{id}/replay`), and requests interrupted by a crash are
//! picked up by the inbox processor.

use std::sync::Arc;

pub mod inbox;
pub mod intake;
mod routes;
pub mod service;

pub use routes::{hooks_router, inbox_router};

/// This process's inbox writers: the group-committing intake (queued mode)
/// and the signal that wakes the inbox processor (a substate of the app).
#[derive(Clone, Debug)]
pub struct Inbox {
    pub intake: Arc<intake::Intake>,
    pub wakeup: Arc<tokio::sync::Notify>,
}

impl Inbox {
    /// Starts the intake writers (call inside the runtime).
    pub fn start(pool: sqlx::PgPool) -> Self {
        Self { intake: Arc::new(intake::Intake::start(pool)), wakeup: Arc::new(tokio::sync::Notify::new()) }
    }
}
