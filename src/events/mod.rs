//! The funnel event store and its batch API. Every metric is computed from
//! what this module stores, so it never loses an accepted event (a 2xx is
//! sent only after commit) and never counts one twice (redeliveries share
//! id and source time, the table's key; `order_paid` is unique per order).
//! Unknown members and groups named by platform ids are created on first
//! sight. Ingestion stops at the store: whatever reacts to stored events
//! subscribes through [`reactions`].

pub mod import;
pub mod model;
pub mod reactions;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
