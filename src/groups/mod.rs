//! Chat groups: platform + external chat id (unique per workspace), name,
//! timezone override, region, category, value tier, owner staff, tags,
//! status (`active`, `archived`, `dismissed`), notice and rules, and the
//! current member count (open membership stints). [`repo::GroupFilter`] is
//! the one group selector, used by the list endpoint and by layers.

pub mod model;
pub mod outbound;
pub mod repo;
mod routes;

pub use routes::router;

/// One 422 detail per id that is not a group of the workspace, named
/// `{field}[i]` (for every feature that references groups by id).
pub async fn unknown_ids(
    conn: &mut sqlx::PgConnection,
    ws: crate::ids::WorkspaceId,
    ids: &[crate::ids::GroupId],
    field: &str,
) -> Result<Vec<crate::error::FieldError>, sqlx::Error> {
    let missing = repo::missing(conn, ws, ids).await?;
    Ok(ids
        .iter()
        .enumerate()
        .filter(|(_, id)| missing.contains(id))
        .map(|(i, _)| {
            crate::error::FieldError::new(format!("{field}[{i}]"), "unknown", "no such group in this workspace")
        })
        .collect())
}
