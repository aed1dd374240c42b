//! Flash sales (限时秒杀): a campaign's items at a sale price, once or at a
//! fixed daily slot (the 10:00 "group welfare"), each run with its own
//! stock. Members reserve units (the shop calls for them), pay within the
//! reservation's minutes, and the payment confirms the units; unpaid
//! reservations expire and give their units back.
//!
//! Invariants, each held by the database (see the migration): a run's
//! `reserved + sold` never exceeds its stock, a member's units in a run never
//! exceed the item's limit, and a reservation changes state once. `sold_out`
//! is answered only when no unit was available at that moment.

pub mod live;
pub mod model;
pub mod outbound;
pub mod reaction;
pub mod repo;
mod routes;
pub mod service;
pub mod writer;

pub use routes::router;
