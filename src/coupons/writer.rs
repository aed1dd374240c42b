//! Group-committed claims. Every claimer of a template waits on its row
//! from the guarded `take` to the commit, one WAL flush each, which bounds
//! one template at a few hundred claims a second however many wait. So the
//! API hands claims to a writer task that takes every claim waiting,
//! groups them by template, and gives each group its coupons in one
//! transaction with the same guards as a lone claim: the members' counts in
//! one guarded upsert (`hold_many`), the total in one guarded `take(n)`
//! (the first claims in arrival order get what is left), the coupons and
//! their `coupon_claimed` events in one insert each. A 2xx still means
//! committed. A member's second claim in a batch, and every claim of a
//! batch that fails, go through the lone path ([`service::claim`]) in their
//! own transaction.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::model::Coupon;
use super::repo;
use super::service::{self, Refusal};
use crate::events::reactions::Reactions;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// Most claims in one transaction.
const MAX_BATCH: usize = 256;

/// One claim asked of the writer.
#[derive(Debug, Clone)]
pub struct Ask {
    pub ws: WorkspaceId,
    pub template: Uuid,
    pub member: MemberId,
    pub group: Option<GroupId>,
    pub now: DateTime<Utc>,
}

type Answer = anyhow::Result<Result<Coupon, Refusal>>;
type Reply = oneshot::Sender<Answer>;

struct Ctx {
    pool: PgPool,
    reactions: Reactions,
}

/// Hands claims to the writer (cheap to clone).
#[derive(Clone)]
pub struct ClaimWriter {
    sender: mpsc::Sender<(Ask, Reply)>,
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for ClaimWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimWriter").finish()
    }
}

impl ClaimWriter {
    /// Starts the writer on the current runtime; `reactions` follow the
    /// `coupon_claimed` events it stores.
    pub fn start(pool: &PgPool, reactions: Reactions) -> Self {
        // Connections of its own: a claim's commit never waits for one
        // behind the request handlers' reads.
        let ctx = Arc::new(Ctx { pool: crate::db::side_pool(pool, 2), reactions });
        let (sender, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(writer(ctx.clone(), rx));
        Self { sender, ctx }
    }

    /// Makes the claim; returns once it is committed (or refused).
    pub async fn claim(&self, ask: Ask) -> Answer {
        let (tx, rx) = oneshot::channel();
        match self.sender.send((ask, tx)).await {
            Ok(()) => rx.await.unwrap_or_else(|_| Err(anyhow::anyhow!("the claim writer stopped"))),
            // The writer is gone (shutting down): on its own.
            Err(mpsc::error::SendError((ask, _))) => alone(&self.ctx, &ask).await,
        }
    }
}

async fn writer(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<(Ask, Reply)>) {
    let mut jobs: Vec<(Ask, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // One group per template, in arrival order.
        let mut keys: Vec<(WorkspaceId, Uuid)> = Vec::new();
        for (a, _) in &jobs {
            if !keys.contains(&(a.ws, a.template)) {
                keys.push((a.ws, a.template));
            }
        }
        let mut all: Vec<(Ask, Reply)> = std::mem::take(&mut jobs);
        for key in keys {
            let (mine, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(a, _)| (a.ws, a.template) == key);
            all = rest;
            group(&ctx, mine).await;
        }
    }
}

/// Claims of one template: the first claim of each member in one
/// transaction, the others alone after it.
async fn group(ctx: &Ctx, jobs: Vec<(Ask, Reply)>) {
    let mut seen = HashSet::new();
    let (first, again): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(a, _)| seen.insert(a.member));
    if first.len() == 1 {
        for (ask, reply) in first {
            let _ = reply.send(alone(ctx, &ask).await);
        }
    } else {
        let asks: Vec<&Ask> = first.iter().map(|(a, _)| a).collect();
        match batch(ctx, &asks).await {
            Ok(answers) => {
                for ((_, reply), a) in first.into_iter().zip(answers) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), batch = first.len(), "claim batch failed; each retried alone");
                for (ask, reply) in first {
                    let _ = reply.send(alone(ctx, &ask).await);
                }
            }
        }
    }
    for (ask, reply) in again {
        let _ = reply.send(alone(ctx, &ask).await);
    }
}

/// One claim in its own transaction.
async fn alone(ctx: &Ctx, a: &Ask) -> Answer {
    let mut tx = crate::db::begin(&ctx.pool).await?;
    let Some(t) = repo::get_template(&mut tx, a.ws, a.template, false).await? else {
        return Ok(Err(Refusal::NotActive));
    };
    let r = service::claim(&mut tx, a.ws, &t, a.member, a.group, a.now, &ctx.reactions).await?;
    if r.is_ok() {
        tx.commit().await?;
    }
    Ok(r)
}

/// Distinct members' claims of one template in one transaction; an answer
/// per claim, in order.
async fn batch(ctx: &Ctx, asks: &[&Ask]) -> anyhow::Result<Vec<Result<Coupon, Refusal>>> {
    let (ws, now) = (asks[0].ws, asks.iter().map(|a| a.now).max().unwrap_or_else(Utc::now));
    let mut tx = crate::db::begin(&ctx.pool).await?;
    let Some(t) = repo::get_template(&mut tx, ws, asks[0].template, false).await? else {
        return Ok(asks.iter().map(|_| Err(Refusal::NotActive)).collect());
    };
    let mut answers: Vec<Option<Result<Coupon, Refusal>>> = vec![None; asks.len()];
    let mut wanted = Vec::new();
    for (i, a) in asks.iter().enumerate() {
        match service::precheck(&mut tx, ws, &t, a.member, a.group, now).await? {
            Some(r) => answers[i] = Some(Err(r)),
            None => wanted.push(i),
        }
    }
    let members: Vec<Uuid> = wanted.iter().map(|i| asks[*i].member.0).collect();
    let held: HashSet<Uuid> =
        repo::hold_many(&mut tx, ws, t.id, &members, t.per_member_limit).await?.into_iter().collect();
    let mut holding = Vec::new();
    for i in wanted {
        if held.contains(&asks[i].member.0) {
            holding.push(i);
        } else {
            answers[i] = Some(Err(Refusal::LimitReached));
        }
    }
    let granted = repo::take(&mut tx, ws, t.id, holding.len() as i64, now).await? as usize;
    let late: Vec<usize> = holding.split_off(granted.min(holding.len()));
    let late_members: Vec<Uuid> = late.iter().map(|i| asks[*i].member.0).collect();
    repo::unhold(&mut tx, ws, t.id, &late_members).await?;
    for i in late {
        answers[i] = Some(Err(Refusal::OutOfStock));
    }
    let given: Vec<(Uuid, Option<GroupId>)> = holding.iter().map(|i| (asks[*i].member.0, asks[*i].group)).collect();
    let coupons = service::give(&mut tx, ws, &t, &given, None, now, &ctx.reactions).await?;
    for (i, c) in holding.into_iter().zip(coupons) {
        answers[i] = Some(Ok(c));
    }
    tx.commit().await?;
    Ok(answers.into_iter().map(|a| a.unwrap_or(Err(Refusal::NotActive))).collect())
}
