//! The points mall (积分商城): items members buy with points — goods the
//! shop ships, custom rewards — with stock, per-member limits per local
//! day, week, month or ever, tier eligibility and a sale window; and
//! redemptions (`pending_fulfilment` → `fulfilled`, or `cancelled` with
//! stock and points restored).
//!
//! Invariants: stock never goes below zero and is never sold twice (a
//! guarded decrement); a redemption, its points and its stock commit
//! together; a member's limit is counted under their account's lock.

pub mod model;
mod outbound;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
