//! Workspaces (tenants): settings (name, timezone, currency, week start),
//! creation with the default tiers (`vip`, `basic`) and a first owner key,
//! and the first-start bootstrap of workspace `default`.

pub mod model;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
