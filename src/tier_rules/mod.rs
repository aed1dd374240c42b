//! Automatic tiers (VIP/basic layering by member value): an ordered rule
//! set per workspace — a tier for members meeting all or any conditions on
//! GMV, orders, points earned and active days over trailing windows — a
//! default tier, a downgrade grace and a lock on tiers set by hand.
//! Evaluated once per local day after midnight (several instances: once,
//! the day being claimed in the evaluating transaction) and on demand.
//!
//! Figures come from the metric rollups (orders, active days) and the
//! points ledger, over complete local days ending yesterday.

pub mod model;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
