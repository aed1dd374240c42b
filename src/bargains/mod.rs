//! Bargains (砍价): a member starts a session at the list price and
//! shares it; each friend's help cuts the price by a random but
//! reproducible amount until, after exactly `helpers_needed` helps, it
//! stands at the floor (the rule: [`cut`], docs/campaigns.md). The member
//! buys at the price reached (or only at the floor) and the shop charges
//! it on `bargain.purchased`.
//!
//! Invariants, each held by the database (see the migration): a helper
//! helps a session once, helps never pass `helpers_needed`, the price
//! never goes under the floor and reaches it only on the last help, a
//! member has one live session per bargain, an order buys one session.

pub mod cut;
pub mod model;
pub mod repo;
mod routes;
pub mod service;
mod stats;

pub use routes::router;
