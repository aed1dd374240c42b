//! Campaigns: name, scene (`fission`, `retention`, `activity`,
//! `conversion`), kind (`check_in`, `coupon`, ...), a lifecycle
//! `draft → scheduled → running → ended` (plus `cancelled`), a period, a
//! target (a layer, explicit groups, or every group), a landing link, and a
//! tracking code unique in the workspace, used later to attribute events.
//! Illegal transitions answer 409; the legal ones are [`model::can_transition`].
//! Mechanics are typed per kind in [`settings`] (`check_in` so far; the
//! other kinds keep a free object until their engine exists); the engines
//! themselves are features of their own (`checkin`, …).

pub mod invite_settings;
pub mod lottery_settings;
pub mod model;
pub mod repo;
mod routes;
pub mod settings;

pub use routes::router;

use sqlx::PgConnection;

use crate::ids::{GroupId, WorkspaceId};

/// Whether campaign `c` runs in group `g` (no target: every group; a
/// layer: the groups its selector holds now).
pub async fn targets_group(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &model::Campaign,
    g: GroupId,
) -> Result<bool, sqlx::Error> {
    let Some(t) = &c.target else { return Ok(true) };
    if let Some(ids) = &t.group_ids {
        return Ok(ids.contains(&g));
    }
    match t.layer_id {
        Some(l) => match crate::layers::repo::get(conn, ws, l).await? {
            Some(layer) => crate::groups::repo::matches(conn, ws, &layer.selector.to_filter(), g).await,
            None => Ok(false),
        },
        None => Ok(true),
    }
}

/// The groups campaign `c` runs in now (no target: every active group).
pub async fn target_groups(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &model::Campaign,
) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
    use crate::groups::model::GroupStatus;
    use crate::groups::repo::GroupFilter;
    let filter = match &c.target {
        None => GroupFilter { statuses: vec![GroupStatus::Active], ..Default::default() },
        Some(t) => match (&t.group_ids, t.layer_id) {
            (Some(ids), _) => return Ok(ids.iter().map(|g| g.0).collect()),
            (None, Some(l)) => match crate::layers::repo::get(conn, ws, l).await? {
                Some(layer) => layer.selector.to_filter(),
                None => return Ok(vec![]),
            },
            (None, None) => GroupFilter { statuses: vec![GroupStatus::Active], ..Default::default() },
        },
    };
    Ok(crate::groups::repo::schedule_targets(conn, ws, &filter).await?.into_iter().map(|g| g.id.0).collect())
}
