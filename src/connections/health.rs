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
/// One guarded statement per connection, which leaves a healthy one that
/// stays healthy untouched (no write, no lock on the sending path).
pub async fn record(conn: &mut PgConnection, mut batch: Vec<Sends>, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    batch.sort_by_key(|s| (s.workspace_id, s.connection_id));
    for s in batch {
        // Failures after the last success, and whether there was a success
        // (which restarts the count).
        let tail = s.results.iter().rev().take_while(|ok| !**ok).count() as i32;
        let reset = s.results.iter().any(|ok| *ok);
        // In SET, columns name the row as it was.
        let row: Option<(i32, Option<DateTime<Utc>>, String, crate::platform::Platform)> = sqlx::query_as(
            "UPDATE connections SET
                 send_failures = CASE WHEN $3 THEN $4 ELSE send_failures + $4 END,
                 send_failing_since = CASE WHEN (CASE WHEN $3 THEN $4 ELSE send_failures + $4 END) = 0 THEN NULL
                                           WHEN $3 OR send_failing_since IS NULL THEN $5
                                           ELSE send_failing_since END,
                 send_last_error = coalesce($6, send_last_error)
             WHERE workspace_id = $1 AND id = $2 AND NOT (send_failures = 0 AND $4 = 0)
             RETURNING send_failures, send_failing_since, name, platform",
        )
        .bind(s.workspace_id)
        .bind(s.connection_id)
        .bind(reset)
        .bind(tail)
        .bind(now)
        .bind(&s.last_error)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((after, since, name, platform)) = row else { continue };
        // Announced once per streak: when this batch made it reach the mark.
        let crossed = after >= FAILING_AFTER && (reset || after - tail < FAILING_AFTER);
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
