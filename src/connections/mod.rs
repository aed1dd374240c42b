//! Platform connections: a workspace connects a WeCom, Telegram, Slack,
//! Feishu or generic account. Credentials are write-only — validated per
//! platform, never returned by the API, never logged (the record's `Debug`
//! hides them) — and can be rotated with the old set accepted during a grace
//! period. Each connection is served at `/hooks/{platform}/{id}`.

pub mod cache;
pub mod health;
pub mod model;
pub mod repo;
mod routes;

pub use routes::router;
