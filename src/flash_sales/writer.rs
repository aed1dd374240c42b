//! Group-committed reservations. At 10:00 every buyer of an item waits on
//! its run's stock row from the guarded update to the commit — one WAL
//! flush each — while the rest of the burst waits for a pooled connection
//! behind them. So the API hands the reservations that passed their reads
//! ([`service::look`]) to the writer task of their item's run (one per run
//! and item with reservations waiting, on connections of their own), which
//! takes every reservation waiting and makes them in one transaction with
//! the same guards as a lone reservation: each member's
//! count first (the guarded upsert of `flash_sale_takers`), then the run's
//! stock row locked once and handed out in arrival order — a buyer is told
//! `sold_out` only when nothing was left at its turn — the reservations
//! inserted, and `reserved` raised by one guarded update (the table's check
//! stands behind it). Different items' writers commit side by side, and an
//! item's next batch forms while its last one commits. A 2xx still means
//! committed. A member's second
//! reservation in a batch, and every reservation of a batch that fails, go
//! through the lone path ([`service::take`]) in their own transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::model::{Reservation, ReservationStatus, SaleItem};
use super::outbound;
use super::repo::{self, Run, SaleRow};
use super::service::{self, Plan, Refusal};
use crate::ids::{MemberId, WorkspaceId};

/// Most reservations in one transaction.
const MAX_BATCH: usize = 256;

/// The writer's own connections: items whose batches commit side by side.
pub const CONNECTIONS: u32 = 6;

/// One reservation asked of the writer.
#[derive(Debug, Clone)]
pub struct Ask {
    pub ws: WorkspaceId,
    pub sale: SaleRow,
    pub item: SaleItem,
    pub member: MemberId,
    pub quantity: i32,
    pub plan: Plan,
    pub now: DateTime<Utc>,
}

/// An item's run: the rows one batch touches.
type Key = (WorkspaceId, Uuid, String, DateTime<Utc>);

impl Ask {
    fn key(&self) -> Key {
        (self.ws, self.sale.id, self.item.product_id.clone(), self.plan.run.starts_at)
    }
}

type Answer = anyhow::Result<Result<Reservation, Refusal>>;
type Reply = oneshot::Sender<Answer>;
type Queue = mpsc::Sender<(Ask, Reply)>;

/// Hands reservations to the writers (cheap to clone): one task per item's
/// run with reservations waiting, so items commit side by side and each
/// item's next batch forms while its last one commits. A task with nothing
/// to do for [`IDLE`] ends.
#[derive(Clone)]
pub struct ReservationWriter {
    queues: Arc<Mutex<HashMap<Key, Queue>>>,
    pool: PgPool,
}

impl std::fmt::Debug for ReservationWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReservationWriter").finish()
    }
}

/// How long an item's writer waits for more before it ends.
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

impl ReservationWriter {
    /// The writers' entry, with connections of their own beside `pool`
    /// ([`crate::db::side_pool`], at most [`CONNECTIONS`]).
    pub fn start(pool: &PgPool) -> Self {
        Self { queues: Arc::default(), pool: crate::db::side_pool(pool, CONNECTIONS) }
    }

    /// Makes the reservation; returns once it is committed (or refused).
    pub async fn reserve(&self, ask: Ask) -> Answer {
        let (tx, rx) = oneshot::channel();
        let mut job = (ask, tx);
        // A writer that ended between the look-up and the send hands the
        // job back: the next round starts a new one.
        for _ in 0..3 {
            let key = job.0.key();
            let queue = {
                let mut queues = self.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                queues.entry(key.clone()).or_insert_with(|| self.spawn(key)).clone()
            };
            match queue.send(job).await {
                Ok(()) => return rx.await.unwrap_or_else(|_| Err(anyhow::anyhow!("the reservation writer stopped"))),
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        alone(&self.pool, &job.0).await
    }

    fn spawn(&self, key: Key) -> Queue {
        let (sender, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer(self.pool.clone(), self.queues.clone(), key, sender.clone(), rx));
        sender
    }
}

async fn writer(
    pool: PgPool,
    queues: Arc<Mutex<HashMap<Key, Queue>>>,
    key: Key,
    me: Queue,
    mut rx: mpsc::Receiver<(Ask, Reply)>,
) {
    let mut jobs: Vec<(Ask, Reply)> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => return,
            Err(_) => {
                // Idle: leave the map (if still ours), then take what came meanwhile.
                {
                    let mut queues = queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if queues.get(&key).is_some_and(|q| q.same_channel(&me)) {
                        queues.remove(&key);
                    }
                }
                rx.close();
                while let Ok(j) = rx.try_recv() {
                    jobs.push(j);
                }
                if !jobs.is_empty() {
                    group(&pool, std::mem::take(&mut jobs)).await;
                }
                return;
            }
        };
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        group(&pool, std::mem::take(&mut jobs)).await;
    }
}

/// Reservations of one item's run: the first of each member in one
/// transaction, the others alone after it.
async fn group(pool: &PgPool, jobs: Vec<(Ask, Reply)>) {
    let mut seen = HashSet::new();
    let (first, again): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(a, _)| seen.insert(a.member));
    if first.len() == 1 {
        for (ask, reply) in first {
            let _ = reply.send(alone(pool, &ask).await);
        }
    } else {
        let asks: Vec<&Ask> = first.iter().map(|(a, _)| a).collect();
        match batch(pool, &asks).await {
            Ok(answers) => {
                for ((_, reply), a) in first.into_iter().zip(answers) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), batch = first.len(), "reservation batch failed; each retried alone");
                for (ask, reply) in first {
                    let _ = reply.send(alone(pool, &ask).await);
                }
            }
        }
    }
    for (ask, reply) in again {
        let _ = reply.send(alone(pool, &ask).await);
    }
}

/// One reservation in its own transaction.
async fn alone(pool: &PgPool, a: &Ask) -> Answer {
    let mut tx = crate::db::begin(pool).await?;
    let r = service::take(&mut tx, a.ws, &a.sale, &a.item, a.member, a.quantity, a.plan, a.now).await?;
    if r.is_ok() {
        tx.commit().await?;
    }
    Ok(r)
}

/// Distinct members' reservations of one item's run in one transaction; an
/// answer per reservation, in order.
async fn batch(pool: &PgPool, asks: &[&Ask]) -> anyhow::Result<Vec<Result<Reservation, Refusal>>> {
    let a0 = asks[0];
    let (ws, sale, item) = (a0.ws, &a0.sale, &a0.item);
    let now = asks.iter().map(|a| a.now).max().unwrap_or_else(Utc::now);
    let run = a0.plan.run;
    let key = Run { sale: sale.id, product: &item.product_id, starts_at: run.starts_at };
    let mut tx = crate::db::begin(pool).await?;
    if asks.iter().any(|a| a.plan.new_run) {
        repo::open_run(&mut tx, ws, sale.id, &item.product_id, run).await?;
    }
    let mut answers: Vec<Option<Result<Reservation, Refusal>>> = vec![None; asks.len()];
    let wants: Vec<(MemberId, i32)> = asks.iter().map(|a| (a.member, a.quantity)).collect();
    let within: HashSet<MemberId> =
        repo::take_limits(&mut tx, ws, key, &wants, item.per_member_limit).await?.into_iter().collect();
    let mut counted = Vec::new();
    for (i, a) in asks.iter().enumerate() {
        if within.contains(&a.member) {
            counted.push(i);
        } else {
            answers[i] = Some(Err(Refusal::LimitReached));
        }
    }
    let wanted: i64 = counted.iter().map(|i| asks[*i].quantity as i64).sum();
    let mut available = repo::lock_run(&mut tx, ws, key).await?;
    if available < wanted {
        // Units due back come back first (the expiry job may lag).
        if service::expire(&mut tx, now, Some((ws, sale.id, item.product_id.as_str(), run.starts_at)), 100).await? > 0 {
            available = repo::lock_run(&mut tx, ws, key).await?;
        }
    }
    let mut made = Vec::new();
    for i in counted {
        let a = asks[i];
        let q = a.quantity as i64;
        if q <= available {
            available -= q;
            let r = Reservation {
                id: Uuid::now_v7(),
                sale_id: sale.id,
                product_id: item.product_id.clone(),
                member_id: a.member,
                quantity: a.quantity,
                price: item.sale_price,
                status: ReservationStatus::Reserved,
                order_id: None,
                starts_at: run.starts_at,
                expires_at: a.now + Duration::minutes(sale.reservation_minutes as i64),
                created_at: a.now,
            };
            made.push((i, r));
        } else {
            repo::untake_limit(&mut tx, ws, key, a.member, a.quantity).await?;
            answers[i] = Some(Err(if available == 0 { Refusal::SoldOut } else { Refusal::Short(available) }));
        }
    }
    if !made.is_empty() {
        let units: i32 = made.iter().map(|(_, r)| r.quantity).sum();
        let rs: Vec<Reservation> = made.iter().map(|(_, r)| r.clone()).collect();
        repo::insert_reservations(&mut tx, ws, &rs).await?;
        match repo::reserve(&mut tx, ws, sale.id, &item.product_id, run.starts_at, units, now).await? {
            repo::Taken::Reserved { left: 0 } => outbound::sold_out(&mut tx, ws, sale, item, run, now).await?,
            repo::Taken::Reserved { .. } => {}
            // Cannot happen under the lock; the batch is retried alone.
            repo::Taken::Short { .. } => anyhow::bail!("a locked run had fewer units than read"),
        }
    }
    tx.commit().await?;
    for (i, r) in made {
        answers[i] = Some(Ok(r));
    }
    Ok(answers.into_iter().map(|a| a.unwrap_or(Err(Refusal::NotActive))).collect())
}
