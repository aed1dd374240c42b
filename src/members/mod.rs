//! Members: one person across platforms. A member has platform identities
//! (platform + external user id, unique per workspace), a display name,
//! optional phone/email (personal data: never logged, never in audit
//! details, masked for viewer keys), custom attributes (JSON object, merged
//! on PATCH), tags, staff/bot flags, a current tier with a full change
//! history, and first-seen / last-active times.
//!
//! `DELETE /v1/members/{id}` erases personal data (name, phone, email,
//! attributes, identities, tags) but keeps the anonymous row, memberships and
//! tier history so metrics stay whole. An erased member can no longer be
//! changed.

pub mod model;
pub mod outbound;
pub mod repo;
mod routes;

pub use routes::router;
