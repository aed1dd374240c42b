//! Outbound webhooks: the operator's endpoints, and messages about business
//! events signed by the Standard Webhooks scheme (standardwebhooks.com).
//! (Inbound platform callbacks are `hooks`.)
//!
//! Invariants: a message is stored by the transaction that made the change
//! it reports (`outbox::emit`), with one dispatch per subscribed endpoint,
//! so a committed change always produces it and a rolled-back one never
//! does. Delivery is at least once, with the same `webhook-id` on every
//! attempt; at most `max_in_flight_per_endpoint` requests per endpoint are
//! in flight over all instances (`queue`). Destinations pass the SSRF guard
//! when saved and when connected (`guard`). Secrets leave only in the
//! answers to creation and rotation. This module sits below the features
//! that emit: it imports none of them; the catalogue of types is here.

pub mod catalogue;
pub mod guard;
pub mod model;
pub mod outbox;
pub mod queue;
pub mod repo;
mod routes;
pub mod sign;
pub mod worker;

pub use routes::router;
