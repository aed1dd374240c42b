//! Earning rules (`/v1/points-rules`): points for paid orders (per unit of
//! their amount) and for events of a type (with an optional daily cap per
//! member), scoped by tiers, groups and dates. Applied by
//! [`crate::points::reaction`] to events stored while a rule is active;
//! refunds take an order's points back.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
