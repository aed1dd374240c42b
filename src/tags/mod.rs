//! Tags on groups and members. API payloads name tags by `name`; a name not
//! yet defined is created on first use (operators tag as they go). Deleting a
//! tag removes it from every group and member.

pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
