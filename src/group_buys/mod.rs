//! Group-buys (拼团): a member opens a team at the group price on a paid
//! order and shares it; friends join on their own orders; the team fills
//! within its time limit and succeeds, or fails and every order is
//! refunded. The shop takes the money and acts on the webhooks
//! (`group_buy.succeeded`, `group_buy.failed`) and on `team_full` /
//! `team_closed` refusals, which name the order to refund.
//!
//! Invariants, each held by the database (see the migration): a team
//! never takes more members than its size and is `succeeded` exactly when
//! full, a member is in a team once, an order holds one place, a member's
//! places stay within the limit, a team fails once. A member leaving the
//! group does not break a team: the order was paid, the place stands.

pub mod model;
pub mod repo;
mod routes;
pub mod service;
mod stats;

pub use routes::router;
