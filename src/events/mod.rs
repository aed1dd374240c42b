//! The funnel event store and its batch API. Every metric is computed from
//! what this module stores, so it never loses an accepted event (a 2xx is
//! sent only after commit) and never counts one twice (redeliveries share
//! id and source time, the table's key; `order_paid` is unique per order).
//! Unknown members and groups named by platform ids are created on first
//! sight. Ingestion stops at the store: whatever reacts to stored events
//! subscribes through [`reactions`].

use std::sync::Arc;

pub mod import;
pub mod model;
pub mod reactions;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;

/// What storing events needs besides a connection: the subscribers that
/// follow stored events and this process's platform-id caches (cheap to clone).
#[derive(Clone, Debug)]
pub struct Ingestion {
    pub reactions: reactions::Reactions,
    pub ids: Arc<crate::platform::IdCaches>,
}

impl Ingestion {
    /// With these subscribers and empty caches.
    pub fn new(reactions: reactions::Reactions) -> Self {
        Self { reactions, ids: Arc::default() }
    }
}
