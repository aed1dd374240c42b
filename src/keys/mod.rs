//! API keys and authentication. A key is `shq_` + 48 hex characters of
//! randomness; only its SHA-256 is stored, the plain key is shown once.
//! Every `/v1` request passes [`auth::require_key`], which resolves the key
//! to an [`auth::Auth`] (workspace, key, role). Roles are ordered
//! viewer < operator < admin < owner; only owners manage owner keys, and the
//! last owner key of a workspace cannot be revoked.

pub mod auth;
pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
