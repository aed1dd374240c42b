//! The one way to react to stored events.
//!
//! Ingestion commits events and stops; whatever follows from an event
//! (membership stints, metric rollup queues, and the campaign engines and
//! outbound webhooks that come next) is a [`Reaction`] in the one list that
//! start-up builds (`startup::subscribers`). [`store`] inserts a batch and
//! hands each reaction the rows that batch *newly* stored — never a
//! redelivery — inside the same transaction, after the insert. So a reaction
//! and the events that caused it commit together or not at all: a reaction
//! that fails fails the batch, and nothing of it is stored. A reaction that
//! needs slow work queues it in a table of its own (durable with the
//! events) and does it later, from a worker.
//!
//! Reactions run in list order; each sees the effects of those before it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use uuid::Uuid;

use super::repo::{self, Row};
use crate::ids::WorkspaceId;

/// Something that follows from newly stored events.
pub trait Reaction: Send + Sync + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// Reacts to `events`, newly stored in `ws` at `stored_at` (the clock's
    /// time) by the transaction `conn` is in. An error rolls the whole batch back.
    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

/// The subscribers, in the order they run (cheap to clone).
#[derive(Clone, Default)]
pub struct Reactions(Arc<[Arc<dyn Reaction>]>);

impl Reactions {
    /// The list, in run order.
    pub fn new(list: Vec<Arc<dyn Reaction>>) -> Self {
        Self(list.into())
    }

    /// Hands `events` to every reaction in turn.
    pub async fn run(
        &self,
        conn: &mut PgConnection,
        ws: WorkspaceId,
        events: &[Row],
        stored_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if events.is_empty() {
            return Ok(());
        }
        for r in self.0.iter() {
            r.react(conn, ws, events, stored_at)
                .await
                .inspect_err(|e| tracing::debug!(reaction = r.name(), error = %e))?;
        }
        Ok(())
    }

    /// The subscribers, in run order (to build a longer list).
    pub fn list(&self) -> Vec<Arc<dyn Reaction>> {
        self.0.to_vec()
    }

    /// The subscribers' names, in run order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|r| r.name()).collect()
    }
}

impl fmt::Debug for Reactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Reactions").field(&self.names()).finish()
    }
}

/// Stores rows whose ids were just made (never stored before) and runs the
/// reactions on them: what an engine that records its own events uses.
pub async fn store_new(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[Row],
    received_at: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<(), sqlx::Error> {
    repo::insert_new(conn, ws, rows, received_at).await?;
    reactions.run(conn, ws, rows, received_at).await
}

/// Stores `rows` and runs the reactions on those not stored before; returns
/// the `(id, occurred_at)` of the newly stored ones.
pub async fn store(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[Row],
    received_at: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<HashSet<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    let inserted = repo::insert(conn, ws, rows, received_at).await?;
    if inserted.len() == rows.len() {
        reactions.run(conn, ws, rows, received_at).await?;
    } else {
        let new: Vec<Row> = rows.iter().filter(|r| inserted.contains(&(r.id, r.occurred_at))).cloned().collect();
        reactions.run(conn, ws, &new, received_at).await?;
    }
    Ok(inserted)
}
