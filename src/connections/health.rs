//! Send health of a connection: failed SOP send attempts through it in a
//! row. Crossing [`FAILING_AFTER`] tells the operator's endpoints once
//! (`connection.failing`); a success resets the count.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::ids::{ConnectionId, WorkspaceId};
use crate::webhooks::catalogue::ConnectionFailing;
use crate::webhooks::outbox::{self, Outgoing};

/// Failed attempts in a row after which a connection is failing.
pub const FAILING_AFTER: i32 = 5;

/// What a batch of recorded attempts says of one connection, in order:
/// `true` for a success.
#[derive(Debug, Clone)]
pub struct Sends {
    pub workspace_id: WorkspaceId,
    pub connection_id: ConnectionId,
    pub results: Vec<bool>,
    pub last_error: Option<String>,
}

/// Records `batch` (sorted by connection here, so concurrent recorders lock
/// in one order) and announces the connections that crossed into failing.
pub async fn record(conn: &mut PgConnection, mut batch: Vec<Sends>, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    batch.sort_by_key(|s| (s.workspace_id, s.connection_id));
    for s in batch {
        // Failures after the last success, and whether there was a success.
        let tail = s.results.iter().rev().take_while(|ok| !**ok).count() as i32;
        let reset = s.results.iter().any(|ok| *ok);
        let row: Option<(i32, Option<DateTime<Utc>>, String, crate::platform::Platform)> = sqlx::query_as(
            "SELECT send_failures, send_failing_since, name, platform FROM connections
             WHERE workspace_id = $1 AND id = $2 FOR NO KEY UPDATE",
        )
        .bind(s.workspace_id)
        .bind(s.connection_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((before, since, name, platform)) = row else { continue };
        let after = if reset { tail } else { before.saturating_add(tail) };
        let since = if after == 0 {
            None
        } else if reset || since.is_none() {
            Some(now)
        } else {
            since
        };
        sqlx::query(
            "UPDATE connections SET send_failures = $3, send_failing_since = $4,
                    send_last_error = coalesce($5, send_last_error)
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(s.workspace_id)
        .bind(s.connection_id)
        .bind(after)
        .bind(since)
        .bind(&s.last_error)
        .execute(&mut *conn)
        .await?;
        let crossed = after >= FAILING_AFTER && (reset || before < FAILING_AFTER);
        if let (true, Some(since)) = (crossed, since) {
            let p = ConnectionFailing {
                connection_id: s.connection_id.0,
                platform: platform.as_str().to_owned(),
                name,
                consecutive_failures: after,
                last_error: s.last_error.clone(),
                failing_since: since,
            };
            outbox::emit(conn, s.workspace_id, now, &[Outgoing::new(now, &p)?]).await?;
        }
    }
    Ok(())
}
