//! Metrics operators decide with, computed from rollups of the funnel
//! events (never by scanning raw events on a dashboard request): activity,
//! growth and commerce, with exact definitions in `docs/metrics.md`.
//!
//! Invariants: every query is scoped by workspace; day boundaries are local
//! (workspace timezone or `tz`); staff and bots are excluded unless asked
//! for; incomplete periods are flagged, future ones are null, never zero.
//! The rollups (`rollup`) are recomputed per dirty local day by one worker
//! at a time, so they always equal what the raw events say once the queue
//! is drained; responses carry `pending` while days of their period wait.

pub mod activity;
mod cohort_routes;
pub mod cohorts;
pub mod commerce;
pub mod csv;
pub mod engagement;
pub mod funnel;
mod funnel_routes;
pub mod group_days;
mod group_routes;
pub mod growth;
pub mod health;
mod health_routes;
pub mod order_days;
pub mod params;
pub mod period;
pub mod reaction;
mod reply;
pub mod repo;
pub mod rollup;
mod routes;
pub mod sets;
pub mod stints;
pub mod timelines;

/// Routes of this feature.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::state::AppState> {
    use cohort_routes::{__path_get_lifecycle, __path_get_retention, get_lifecycle, get_retention};
    use funnel_routes::{__path_get_funnel, get_funnel};
    use group_routes::{
        __path_get_group_leaderboard, __path_get_group_roles, __path_get_member_engagement, get_group_leaderboard,
        get_group_roles, get_member_engagement,
    };
    use health_routes::{__path_get_groups_health, get_groups_health};
    use routes::{__path_get_activity, __path_get_commerce, __path_get_growth, get_activity, get_commerce, get_growth};
    use utoipa_axum::{router::OpenApiRouter, routes};
    OpenApiRouter::new()
        .routes(routes!(get_activity))
        .routes(routes!(get_growth))
        .routes(routes!(get_commerce))
        .routes(routes!(get_retention))
        .routes(routes!(get_lifecycle))
        .routes(routes!(get_funnel))
        .routes(routes!(get_groups_health))
        .routes(routes!(get_group_roles))
        .routes(routes!(get_group_leaderboard))
        .routes(routes!(get_member_engagement))
}
