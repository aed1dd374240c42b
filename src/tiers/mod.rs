//! Value tiers (VIP, basic, ...): workspace-defined and ordered by `rank`
//! (higher = more valuable). Every workspace starts with `vip` (rank 20) and
//! `basic` (rank 10). Groups and members refer to a tier by its `key`;
//! renaming a key carries over to them (ON UPDATE CASCADE), and a tier still
//! in use cannot be deleted (409). A workspace has at most 50 tiers, so the
//! list is one page.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
