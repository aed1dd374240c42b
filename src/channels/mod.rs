//! Channel entry links (渠道活码): one stable link per channel — offline
//! (store, flyer, 地推), QR code, campaign page — that sends each visitor to
//! a group of its target with room, by its strategy, skipping groups at
//! capacity, closed or without an invite link; when none is left the link
//! shows a "groups are full" page and the shop hears `channel.full`.
//!
//! Capacity is read per visit (members with an open stint), so joins in
//! flight — visitors sent but not yet joined — can take a group past it by
//! at most their number.

pub mod model;
mod outbound;
pub mod repo;
mod routes;
pub mod service;
pub mod states;
mod stats;
pub mod visits;

pub use routes::{public_router, router};
pub use visits::Visits;
