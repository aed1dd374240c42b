//! `/v1/metrics/...` (and the member resource's engagement): thin handlers
//! that resolve the query ([`crate::metrics::params`]), read the store in
//! one snapshot, call a report and answer JSON or CSV (`reply`, `csv`).

mod cohorts;
mod commerce;
mod funnel;
pub(crate) mod groups;
pub(crate) mod health;
mod members;
mod overview;
pub(crate) mod reply;

/// Routes of this feature.
pub fn router<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    use cohorts::{__path_get_lifecycle, __path_get_retention, get_lifecycle, get_retention};
    use commerce::{__path_get_commerce, get_commerce};
    use funnel::{__path_get_funnel, get_funnel};
    use groups::{
        __path_get_group_leaderboard, __path_get_group_roles, __path_get_member_engagement, get_group_leaderboard,
        get_group_roles, get_member_engagement,
    };
    use health::{__path_get_groups_health, get_groups_health};
    use members::{__path_get_member, get_member};
    use overview::{__path_get_activity, __path_get_growth, get_activity, get_growth};
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
        .routes(routes!(get_member))
}
