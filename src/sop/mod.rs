//! SOP plans (标准作业流程): timed content plans per group, layer or tier.
//!
//! A plan has steps (a content and a timing rule), targets, quiet hours,
//! jitter, dates and a status. Schedule state lives in `sop_schedules` (the
//! next slot per step and group, or per member for "after join" steps);
//! [`scheduler::run_due`] claims due rows, creates one delivery per slot and
//! advances the row in the same transaction. Editing, pausing and resuming
//! rebuild the schedule from "now": future slots only, claimed ones finish.

pub mod cron;
pub mod model;
pub mod repo;
mod routes;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod timing;

pub use routes::router;
