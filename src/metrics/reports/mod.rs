//! The reports: pure functions from what the store read to the answers —
//! no database, no HTTP — each unit-tested on its own; definitions in
//! `docs/metrics.md`.

pub mod activity;
pub mod cohorts;
pub mod commerce;
pub mod engagement;
pub mod funnel;
pub mod growth;
pub mod health;
pub mod invites;
pub mod roles;
