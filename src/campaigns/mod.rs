//! Campaigns: name, scene (`fission`, `retention`, `activity`,
//! `conversion`), kind (`check_in`, `coupon`, ...), a lifecycle
//! `draft → scheduled → running → ended` (plus `cancelled`), a period, a
//! target (a layer, explicit groups, or every group), a landing link, and a
//! tracking code unique in the workspace, used later to attribute events.
//! Illegal transitions answer 409; the legal ones are [`model::can_transition`].
//! Mechanics (points, coupons, stock, draws) come with later features and
//! live in `settings` until then.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
