//! Metrics operators decide with, computed from rollups of the funnel
//! events (never by scanning raw events on a dashboard request): activity,
//! growth and commerce, with exact definitions in `docs/metrics.md`.
//!
//! Invariants: every query is scoped by workspace; day boundaries are local
//! (workspace timezone or `tz`); staff and bots are excluded unless asked
//! for; incomplete periods are flagged, future ones are null, never zero.
//! The rollups (`rollup`) are recomputed per dirty local day by one worker
//! at a time, so they always equal what the raw events say once the queue
//! is drained; responses carry `pending` while days of their period wait.

pub mod activity;
mod cohort_routes;
pub mod cohorts;
pub mod commerce;
pub mod csv;
pub mod engagement;
pub mod funnel;
mod funnel_routes;
pub mod group_days;
mod group_routes;
pub mod growth;
pub mod health;
mod health_routes;
pub mod order_days;
pub mod params;
pub mod period;
pub mod repo;
pub mod rollup;
mod routes;
pub mod sets;
pub mod stints;
pub mod timelines;

pub use routes::router;
