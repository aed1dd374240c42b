//! The rollups follow stored events through one subscriber: it queues the
//! new events by local day (`metric_dirty_days`: what the rollups read of
//! them, packed, merged by the rollup worker) and the groups
//! whose stints a join or leave may have changed (`metric_dirty_stints`), in
//! the transaction that stored them, so a committed event always has its
//! queue rows. It runs after the stint projection.

use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::reactions::Reaction;
use crate::events::repo::Row;
use crate::ids::WorkspaceId;
use crate::metrics::store::rollup;

/// Queues the rollup work that newly stored events cause.
#[derive(Debug, Default)]
pub struct RollupQueue;

impl Reaction for RollupQueue {
    fn name(&self) -> &'static str {
        "metric_rollup_queue"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        _stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let new: Vec<_> = events.iter().map(crate::metrics::store::incremental::NewEvent::from).collect();
            rollup::mark_dirty(conn, ws, &new).await?;
            let mut groups: Vec<Uuid> =
                events.iter().filter(|r| r.is_membership()).filter_map(|r| r.group_id).collect();
            groups.sort_unstable();
            groups.dedup();
            rollup::mark_stints_dirty(conn, ws, &groups).await
        })
    }
}
