//! Chat groups: platform + external chat id (unique per workspace), name,
//! timezone override, region, category, value tier, owner staff, tags,
//! status (`active`, `archived`, `dismissed`), notice and rules, and the
//! current member count (open membership stints). [`repo::GroupFilter`] is
//! the one group selector, used by the list endpoint and by layers.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
