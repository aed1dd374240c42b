//! Layers (群分层): saved group selectors — by tags, tier, region, category,
//! platform, status and explicit ids — the targeting unit of SOP plans,
//! campaigns and metrics. A layer is resolved live, so a group tagged later
//! joins its layers at once. Resolution rules are those of
//! [`crate::groups::repo::GroupFilter`]; `statuses` defaults to `active`.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
