//! Operator issues to large targets. The request stores the issue and its
//! target's members (as they were when asked) and answers 202; chunks of
//! [`CHUNK`] members are then issued one transaction each — the coupons,
//! their events and the issue's counts and cursor commit together — by a
//! task the request starts and, should that instance stop, by the campaign
//! jobs of any instance (`FOR UPDATE SKIP LOCKED` on the issue's row keeps
//! two instances off the same chunk).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::model::{IssueStatus, Skipped};
use super::{repo, service};
use crate::events::reactions::Reactions;
use crate::ids::MemberId;

/// Targets of up to this many members are issued in the request.
pub const IN_REQUEST: usize = 1_000;

/// Members per transaction of a queued issue.
pub const CHUNK: i64 = 500;

/// Works through queued issues, chunk by chunk, until none is left;
/// returns the members processed.
pub async fn run_pending(pool: &PgPool, now: DateTime<Utc>, reactions: &Reactions) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let Some((ws, issue, cursor)) = repo::take_pending_issue(&mut tx).await? else { return Ok(total) };
        let t = repo::get_template(&mut tx, ws, issue.template_id, false).await?;
        let Some(t) = t.filter(|t| service::is_open(t, now)) else {
            let why = "the template stopped giving coupons (paused, archived or past its validity)";
            let none = Skipped::default();
            repo::advance_issue(&mut tx, ws, issue.id, 0, 0, none, None, IssueStatus::Failed, Some(why), now).await?;
            tx.commit().await?;
            continue;
        };
        let chunk = repo::issue_chunk(&mut tx, ws, issue.id, cursor, CHUNK).await?;
        let live: Vec<MemberId> = chunk.iter().filter(|c| c.1).map(|c| c.0).collect();
        let (issued, mut skipped) = service::issue(&mut tx, ws, &t, &live, issue.id, now, reactions).await?;
        skipped.not_eligible += (chunk.len() - live.len()) as i64;
        let processed = chunk.len() as i64;
        let status = if chunk.is_empty() || issue.processed + processed >= issue.total {
            IssueStatus::Done
        } else {
            IssueStatus::Running
        };
        let last = chunk.last().map(|c| c.0 .0);
        repo::advance_issue(&mut tx, ws, issue.id, processed, issued, skipped, last, status, None, now).await?;
        tx.commit().await?;
        total += chunk.len();
    }
}
