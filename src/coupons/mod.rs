//! Coupons (群专享优惠券): templates say what a coupon takes off (an amount,
//! a percentage with a cap, or an amount from a threshold), on which
//! products, for how long, how many may exist and who may have one; members
//! claim coupons, operators issue them to a target; the shop quotes a cart,
//! locks a coupon to an order and an `order_paid` carrying its code redeems
//! it.
//!
//! Invariants, each held by the database (see the migration): a template
//! never gives more than its total, a member never holds more than the
//! per-member limit, an order carries at most one non-stackable coupon, and
//! a coupon is used on one order. Money is integer minor units
//! ([`pricing`]). A claimed coupon past its validity reads `expired` at
//! once; the expiry job writes it.

pub mod code;
pub mod issues;
pub mod live;
pub mod model;
pub mod pricing;
pub mod reaction;
pub mod repo;
mod routes;
pub mod service;
pub mod stats;
pub mod writer;

pub use routes::router;
