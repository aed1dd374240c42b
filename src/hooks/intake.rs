//! Group commit for webhook intake: concurrent requests hand their verified
//! raw request to one of a few writer tasks, which insert everything queued
//! in one statement and one commit, then answer each waiting request. A
//! request is still answered only after its row is committed; under load
//! many requests share one commit instead of paying one each.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::ids::{ConnectionId, InboxId, WorkspaceId};
use crate::platform::Platform;

/// Writer tasks (one in flight each; more overlap commits).
const WRITERS: usize = 4;
/// Most rows one writer inserts at once.
const MAX_BATCH: usize = 256;

/// A verified request to store.
#[derive(Debug)]
pub struct NewRow {
    pub ws: WorkspaceId,
    pub connection: ConnectionId,
    pub platform: Platform,
    pub query: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: Vec<u8>,
}

type Job = (NewRow, oneshot::Sender<Result<InboxId, String>>);

/// Hands rows to the writers.
#[derive(Debug)]
pub struct Intake {
    senders: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
}

impl Intake {
    /// Starts the writers on the current runtime.
    pub fn start(pool: PgPool) -> Self {
        let senders = (0..WRITERS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
                tokio::spawn(writer(pool.clone(), rx));
                tx
            })
            .collect();
        Self { senders, next: AtomicUsize::new(0) }
    }

    /// Stores a row; returns once it is committed.
    pub async fn store(&self, row: NewRow) -> Result<InboxId, String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let (tx, rx) = oneshot::channel();
        self.senders[i].send((row, tx)).await.map_err(|_| "intake writer stopped".to_owned())?;
        rx.await.map_err(|_| "intake writer stopped".to_owned())?
    }
}

async fn writer(pool: PgPool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let ids: Vec<InboxId> = jobs.iter().map(|_| InboxId::new()).collect();
        let result = insert(&pool, &jobs, &ids).await.map_err(|e| e.to_string());
        for ((_, reply), id) in jobs.drain(..).zip(ids) {
            let _ = reply.send(result.clone().map(|_| id));
        }
    }
}

async fn insert(pool: &PgPool, jobs: &[Job], ids: &[InboxId]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO inbox (workspace_id, id, connection_id, platform, query, headers, body)
         SELECT u.ws, u.id, u.c, u.p, u.q, u.h::jsonb, u.b
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bytea[])
              AS u(ws, id, c, p, q, h, b)",
    )
    .bind(jobs.iter().map(|(r, _)| r.ws).collect::<Vec<_>>())
    .bind(ids)
    .bind(jobs.iter().map(|(r, _)| r.connection).collect::<Vec<_>>())
    .bind(jobs.iter().map(|(r, _)| r.platform).collect::<Vec<_>>())
    .bind(jobs.iter().map(|(r, _)| r.query.as_str()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|(r, _)| serde_json::Value::Object(r.headers.clone()).to_string()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|(r, _)| r.body.as_slice()).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}
