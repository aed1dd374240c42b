//! Points (客户积分): one account per member and workspace, a ledger that is
//! the balance's whole history, and lots — what is left of each earning,
//! with the expiry the workspace policy gave it.
//!
//! Invariants, each held by the database:
//! - the balance is the sum of the ledger's deltas (every statement that
//!   changes it writes its entry in the same transaction, under the
//!   account's row lock);
//! - while the balance is not negative it is the sum of the open lots;
//!   it is negative only as a clawback debt, and then no lot is open;
//! - a debit never takes a balance below zero (`repo::debit_guarded`);
//! - a source is credited once (`points_ledger_source_key`);
//! - a lot expires once, at the local midnight ending its last day
//!   (`expiry`; spending expires due lots first).

pub mod expiry;
pub mod model;
pub mod outbound;
pub mod reaction;
pub mod repo;
mod routes;
pub mod rules;
pub mod service;

pub use routes::{insufficient, require_member};

/// Routes of this feature.
pub fn router<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    routes::router().merge(rules::router())
}
