//! Invite campaigns (kind `referral`; a lottery's own invite codes too).
//! A member's invite link is a channel entry link carrying its campaign and
//! inviter (`channels` routes it and attributes the join); a join through
//! it opens a referral, rejected at once for `self_invite`, `not_new`,
//! `staff_or_bot`, `cycle`, `cross_workspace` or `campaign_not_running`,
//! else `pending` until the hold ends; the hold job (once per referral
//! across instances) revokes it if the invitee left, flags it over the
//! inviter's daily cap, or qualifies it and grants the inviter's rewards
//! once per threshold. The shop hears `referral.qualified`, `.revoked`
//! and `.flagged` (docs/campaigns.md).
//!
//! Invariants: one referral per invitee per campaign (a unique key); each
//! reward threshold once per inviter (a unique key); the daily cap is a
//! guarded counter; an inviter's qualifications are serialised by a lock
//! on the inviter's member row.

pub mod model;
mod outbound;
pub mod reaction;
pub mod repo;
pub mod rewards;
mod routes;
pub mod service;
mod tree;

pub use routes::router;
