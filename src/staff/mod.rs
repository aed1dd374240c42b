//! Staff: the operator's people and bots inside groups (群管家), each with a
//! persona (`owner`, `expert`, `assistant`, `bot`), platform user ids, an
//! optional link to their member record, and assignments to groups with a
//! role per group. Deleting a staff member removes their assignments and
//! clears them as group owner.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
