//! Metrics operators decide with, computed from rollups of the funnel
//! events (never by scanning raw events on a dashboard request): activity,
//! growth, commerce, retention, funnels, group health and engagement, with
//! exact definitions in `docs/metrics.md`.
//!
//! Three parts, each importing only from those below it:
//! - [`http`]: thin handlers — parse the query into a [`params::Ctx`], read
//!   the store in one snapshot, hand the rows to a report, answer JSON or CSV;
//! - [`reports`]: pure functions from store reads to answers, unit-tested
//!   without a database;
//! - [`store`]: the rollups (`rollup`, fed by `reaction`), the packed formats
//!   they keep (`sets`, `stints`, `order_days`, `timelines`) and every SQL
//!   read (`repo`).
//!
//! Below all three, the vocabulary they share: local periods ([`period`])
//! and a resolved query ([`params`]).
//!
//! Invariants: every query is scoped by workspace; day boundaries are local
//! (workspace timezone or `tz`); staff and bots are excluded unless asked
//! for; incomplete periods are flagged, future ones are null, never zero.
//! The rollups are recomputed per dirty local day by one worker at a time,
//! so they always equal what the raw events say once the queue is drained;
//! responses carry `pending` while days of their period wait.

pub mod http;
pub mod params;
pub mod period;
pub mod reports;
pub mod store;
pub mod watch;

pub use http::router;
