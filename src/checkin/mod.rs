//! Daily check-in campaigns (签到打卡): check-ins from the API and from
//! chat keywords, streaks with bonuses, makeups paid in points, calendars
//! and stats. Points come from `points`; each check-in is also a
//! `checked_in` event, so activity, retention and funnels count it.
//!
//! Invariants: one check-in per member, campaign and check-in day (a unique
//! key); a day is local to the group's timezone (else the workspace's),
//! shifted by the campaign's `day_starts_at`; each streak bonus is granted
//! once per run (a unique key); a member's check-ins to one campaign are
//! serialised by a row lock, so streaks and makeup counts are exact.

pub mod model;
pub mod reaction;
mod reply;
pub mod repo;
mod routes;
pub mod service;
mod stats;
pub mod writer;

pub use routes::{refusal, router};
