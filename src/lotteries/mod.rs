//! 0-yuan lotteries (kind `lottery`): commit, then reveal. The lottery's
//! secret 256-bit seed is drawn and `commitment = sha256(seed)` published
//! before its first entry; members enter (and earn more entries through
//! invites qualified via the lottery's own invite codes — the referral
//! engine); at `draw_at` the draw runs once (its row locked and status
//! checked in one transaction, any number of instances), freezes the
//! entry list, reveals the seed, picks the winners by the rule of
//! [`draw`] and delivers the prizes in the same transaction: points,
//! coupons, `lottery.prize_won` webhooks. docs/lottery.md shows how to
//! recompute the winners from the published list and seed alone.

pub mod draw;
pub mod live;
pub mod model;
mod outbound;
pub mod repo;
mod routes;
pub mod service;

pub use routes::router;
