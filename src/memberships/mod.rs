//! Memberships: a history of stints, not a flag. Joining opens a stint
//! (joined_at, source channel, inviter, invite code); leaving closes it
//! (left_at, reason); a re-join opens a new one.
//!
//! Invariants, enforced by the database: at most one open stint per
//! (group, member) (`memberships_one_open_stint`), and `left_at >= joined_at`
//! (`memberships_left_after_joined`). The service also refuses a backdated
//! join that would overlap an earlier stint.

pub mod model;
pub mod projection;
pub mod reaction;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
