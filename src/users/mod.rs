//! Operator accounts for the console: people who sign in with e-mail and
//! password, their roles per workspace (the same roles and checks as API
//! keys), invitations, password resets, sessions and the sign-in throttle.
//!
//! Invariants: an account per e-mail address (a unique key); passwords only
//! as Argon2id hashes; session, invitation and reset secrets only as
//! SHA-256 hashes; every cookie-authenticated write carries the session's
//! CSRF token; a one-time link works once (its row is locked or updated
//! with a guard); the last active owner of a workspace stays one.

pub mod model;
pub mod password;
pub mod repo;
mod routes;
pub mod service;

pub use routes::{public_router, router};
