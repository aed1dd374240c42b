//! Group commit for check-ins made through the API — the morning burst,
//! when thousands of members tap "签到" within a minute.
//!
//! Concurrent requests hand their check-in to one of a few writer tasks
//! (always the same one for a member, so two writers never wait on each
//! other's rows). A writer takes everything queued and checks it in with one
//! transaction: per campaign one statement per step for the whole batch —
//! member rows locked in member order (each row holds the member's last day
//! and its streak, so no earlier check-in is read), check-ins inserted,
//! streak bonuses claimed, points credited, `checked_in` events stored,
//! webhooks queued — then one commit, and answers each request with its own
//! result. A request is answered only after its check-in is committed,
//! exactly as with one transaction each. A writer keeps its connection while
//! check-ins keep coming (its prepared statements stay warm) and gives it
//! back after [`HOLD`] without any.
//!
//! What the batch path does not do itself goes through the one-request path
//! ([`service::check_in`]) in the same transaction, each under a savepoint:
//! makeups, a member's second request in the batch, and a check-in with
//! later days after it (their streaks must be recomputed). If the batch
//! fails as a whole, every request in it is retried on its own, so one bad
//! request never fails its neighbours.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::model::{check_in_day, CheckIn, CheckInResult, Reward};
use super::repo;
use super::service::{self, Refusal, Request};
use crate::campaigns::model::{Campaign, CampaignKind};
use crate::campaigns::settings::{CheckInSettings, StreakReward};
use crate::events::reactions::Reactions;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};
use crate::points::model::{EntryKind, LedgerEntry, Source, SourceType};
use crate::points::service as points;

/// Writer tasks: batches in flight at once (two measured best on two
/// cores: fewer, larger batches; see BENCHMARKS.md).
const WRITERS: usize = 2;
/// Most check-ins one writer takes at once.
const MAX_BATCH: usize = 128;
/// How long a writer keeps its connection after its last batch.
const HOLD: std::time::Duration = std::time::Duration::from_secs(2);

/// A check-in asked for through the API.
#[derive(Debug, Clone)]
pub struct Ask {
    pub ws: WorkspaceId,
    pub campaign: CampaignId,
    pub req: Request,
    /// The request's clock reading.
    pub now: DateTime<Utc>,
}

/// What became of an [`Ask`].
#[derive(Debug)]
pub enum Answer {
    Done(Box<CheckInResult>),
    Refused(Refusal),
    NoCampaign,
    UnknownMember,
}

type Reply = oneshot::Sender<Result<Answer, sqlx::Error>>;

struct Ctx {
    pool: PgPool,
    reactions: Reactions,
}

/// Hands check-ins to the writers (cheap to clone).
#[derive(Clone)]
pub struct Writers {
    senders: Arc<Vec<mpsc::Sender<(Ask, Reply)>>>,
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writers").field("writers", &self.senders.len()).finish()
    }
}

impl Writers {
    /// Starts the writers on the current runtime; `reactions` follow the
    /// `checked_in` events they store.
    pub fn start(pool: PgPool, reactions: Reactions) -> Self {
        let ctx = Arc::new(Ctx { pool, reactions });
        let senders = (0..WRITERS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
                tokio::spawn(writer(ctx.clone(), rx));
                tx
            })
            .collect();
        Self { senders: Arc::new(senders), ctx }
    }

    /// Makes the check-in; returns once it is committed (or refused).
    pub async fn check_in(&self, ask: Ask) -> Result<Answer, sqlx::Error> {
        let i = (ask.req.member.0.as_u128() % self.senders.len() as u128) as usize;
        let (tx, rx) = oneshot::channel();
        match self.senders[i].send((ask, tx)).await {
            Ok(()) => rx.await.unwrap_or_else(|_| Err(sqlx::Error::WorkerCrashed)),
            // The writer is gone (shutting down): on its own.
            Err(mpsc::error::SendError((ask, _))) => single(&self.ctx, &ask).await,
        }
    }
}

async fn writer(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<(Ask, Reply)>) {
    let mut jobs: Vec<(Ask, Reply)> = Vec::with_capacity(MAX_BATCH);
    // Kept while check-ins keep coming: its prepared statements are warm.
    let mut held: Option<PoolConnection<Postgres>> = None;
    loop {
        let first = if held.is_some() {
            match tokio::time::timeout(HOLD, rx.recv()).await {
                Ok(Some(j)) => j,
                Ok(None) => return,
                Err(_) => {
                    held = None;
                    continue;
                }
            }
        } else {
            match rx.recv().await {
                Some(j) => j,
                None => return,
            }
        };
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let asks: Vec<&Ask> = jobs.iter().map(|(a, _)| a).collect();
        let done = match held.take() {
            Some(c) => Ok(c),
            None => ctx.pool.acquire().await,
        };
        let result = match done {
            Ok(mut conn) => {
                let r = batch(&mut conn, &ctx.reactions, &asks).await;
                if r.is_ok() {
                    held = Some(conn);
                }
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(answers) => {
                for ((_, reply), a) in jobs.drain(..).zip(answers) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) => {
                if jobs.len() > 1 {
                    tracing::warn!(error = %e, batch = jobs.len(), "check-in batch failed; each retried alone");
                }
                for (ask, reply) in jobs.drain(..) {
                    let _ = reply.send(single(&ctx, &ask).await);
                }
            }
        }
    }
}

/// One check-in in its own transaction.
async fn single(ctx: &Ctx, ask: &Ask) -> Result<Answer, sqlx::Error> {
    let mut tx = crate::db::begin(&ctx.pool).await?;
    let Some(campaign) = crate::campaigns::repo::get(&mut tx, ask.ws, ask.campaign, false).await? else {
        return Ok(Answer::NoCampaign);
    };
    match service::check_in(&mut tx, ask.ws, &campaign, &ask.req, ask.now, &ctx.reactions).await? {
        Ok(done) => {
            tx.commit().await?;
            Ok(Answer::Done(Box::new(done)))
        }
        Err(r) => Ok(Answer::Refused(r)),
    }
}

/// Checks in a batch in one transaction; an answer for each ask, in order.
async fn batch(conn: &mut PgConnection, reactions: &Reactions, asks: &[&Ask]) -> Result<Vec<Answer>, sqlx::Error> {
    let mut answers: Vec<Option<Answer>> = asks.iter().map(|_| None).collect();
    let mut tx = conn.begin().await?;
    let mut by_campaign: Vec<((WorkspaceId, CampaignId), Vec<usize>)> = Vec::new();
    for (i, a) in asks.iter().enumerate() {
        match by_campaign.iter_mut().find(|(k, _)| *k == (a.ws, a.campaign)) {
            Some((_, v)) => v.push(i),
            None => by_campaign.push(((a.ws, a.campaign), vec![i])),
        }
    }
    let mut campaigns: HashMap<(WorkspaceId, CampaignId), Campaign> = HashMap::new();
    let mut alone: Vec<usize> = Vec::new();
    for ((ws, id), idx) in by_campaign {
        let Some(campaign) = crate::campaigns::repo::get(&mut tx, ws, id, false).await? else {
            for i in idx {
                answers[i] = Some(Answer::NoCampaign);
            }
            continue;
        };
        let mut seen = HashSet::new();
        let (plain, rest): (Vec<usize>, Vec<usize>) =
            idx.into_iter().partition(|&i| asks[i].req.makeup_day.is_none() && seen.insert(asks[i].req.member));
        alone.extend(rest);
        let mut b = Batch { ws, campaign: &campaign, asks, answers: &mut answers, alone: &mut alone };
        b.run(&mut tx, &plain, reactions).await?;
        campaigns.insert((ws, id), campaign);
    }
    for i in alone {
        let a = asks[i];
        let Some(campaign) = campaigns.get(&(a.ws, a.campaign)) else { continue };
        // A savepoint: a refusal after writing (a makeup not covered) undoes
        // only its own writes.
        let mut one = sqlx::Acquire::begin(&mut tx).await?;
        match service::check_in(&mut one, a.ws, campaign, &a.req, a.now, reactions).await? {
            Ok(done) => {
                one.commit().await?;
                answers[i] = Some(Answer::Done(Box::new(done)));
            }
            Err(r) => {
                one.rollback().await?;
                answers[i] = Some(Answer::Refused(r));
            }
        }
    }
    tx.commit().await?;
    answers.into_iter().map(|a| a.ok_or_else(|| sqlx::Error::Protocol("a check-in left unanswered".into()))).collect()
}

/// The plain check-ins (no makeup, one per member) of one campaign.
struct Batch<'a> {
    ws: WorkspaceId,
    campaign: &'a Campaign,
    asks: &'a [&'a Ask],
    answers: &'a mut [Option<Answer>],
    /// Those left to the one-request path.
    alone: &'a mut Vec<usize>,
}

/// A check-in the batch makes.
struct Made {
    ask: usize,
    c: CheckIn,
    total_before: i32,
    run_start: NaiveDate,
    due: Vec<StreakReward>,
}

impl Batch<'_> {
    fn refuse(&mut self, i: usize, r: Refusal) {
        self.answers[i] = Some(Answer::Refused(r));
    }

    async fn run(&mut self, conn: &mut PgConnection, idx: &[usize], reactions: &Reactions) -> Result<(), sqlx::Error> {
        let (ws, campaign) = (self.ws, self.campaign);
        let mut live = Vec::new();
        for &i in idx {
            let a = self.asks[i];
            if campaign.kind != CampaignKind::CheckIn {
                self.refuse(i, Refusal::NotCheckIn);
            } else if !service::running_at(campaign, a.req.at) || !service::running_at(campaign, a.now) {
                self.refuse(i, Refusal::NotRunning);
            } else {
                live.push(i);
            }
        }
        if live.is_empty() {
            return Ok(());
        }
        let settings = CheckInSettings::from_stored(&campaign.settings);
        let (ws_tz, p, _) =
            crate::workspaces::repo::points_policy_for_group(conn, ws, None).await?.ok_or(sqlx::Error::RowNotFound)?;
        let policy = points::Policy { tz: crate::clock::zone(&ws_tz), expiry: p.expiry, clawback: p.clawback };
        let days = self.days(conn, &live, &settings, policy.tz).await?;
        let made = self.make(conn, days, &settings).await?;
        if made.is_empty() {
            return Ok(());
        }
        self.write(conn, made, &settings, &policy, reactions).await
    }

    /// The check-in day of each ask, once its group is known and targeted.
    async fn days(
        &mut self,
        conn: &mut PgConnection,
        live: &[usize],
        settings: &CheckInSettings,
        ws_tz: Tz,
    ) -> Result<Vec<(usize, NaiveDate)>, sqlx::Error> {
        let groups: Vec<GroupId> =
            live.iter().filter_map(|&i| self.asks[i].req.group).collect::<HashSet<_>>().into_iter().collect();
        let mut zones: HashMap<GroupId, (Tz, bool)> = HashMap::new();
        for (g, tz) in crate::groups::repo::timezones(conn, self.ws, &groups).await? {
            let targeted = crate::campaigns::targets_group(conn, self.ws, self.campaign, g).await?;
            zones.insert(g, (tz.as_deref().map_or(ws_tz, crate::clock::zone), targeted));
        }
        let start = settings.day_start();
        let asks = self.asks;
        let mut out = Vec::with_capacity(live.len());
        for &i in live {
            let req = &asks[i].req;
            let tz = match req.group.map(|g| zones.get(&g)) {
                None => ws_tz,
                Some(None) => {
                    self.refuse(i, Refusal::UnknownGroup);
                    continue;
                }
                Some(Some((_, false))) => {
                    self.refuse(i, Refusal::NotInTarget);
                    continue;
                }
                Some(Some((tz, true))) => *tz,
            };
            out.push((i, check_in_day(tz, start, req.at)));
        }
        Ok(out)
    }

    /// Locks the members and decides each check-in's streak; answers those
    /// already made and leaves those with later days to the one-request path.
    async fn make(
        &mut self,
        conn: &mut PgConnection,
        mut days: Vec<(usize, NaiveDate)>,
        settings: &CheckInSettings,
    ) -> Result<Vec<Made>, sqlx::Error> {
        let (ws, campaign) = (self.ws, self.campaign);
        days.sort_by_key(|(i, _)| self.asks[*i].req.member);
        let members: Vec<MemberId> = days.iter().map(|(i, _)| self.asks[*i].req.member).collect();
        let locked: HashMap<MemberId, repo::Locked> =
            repo::lock_members(conn, ws, campaign.id, &members).await?.into_iter().map(|l| (l.member_id, l)).collect();
        // The member's last day and its streak (kept on the locked row) tell
        // what is around the day without reading the check-ins.
        let asks = self.asks;
        let mut made = Vec::with_capacity(days.len());
        for (i, day) in days {
            let req = &asks[i].req;
            let Some(l) = locked.get(&req.member) else {
                self.answers[i] = Some(Answer::UnknownMember);
                continue;
            };
            let prev = day.pred_opt().unwrap_or(day);
            let streak = match l.last_day {
                Some(last) if last == day => {
                    if let Err(r) = service::already(conn, ws, campaign, req.member, day).await? {
                        self.refuse(i, r);
                    }
                    continue;
                }
                // Later days follow: their streaks change too.
                Some(last) if last > day => {
                    self.alone.push(i);
                    continue;
                }
                Some(last) if last == prev => l.last_streak.unwrap_or(0) + 1,
                _ => 1,
            };
            let total_before = l.total_days;
            let due = settings.rewards_at(streak as u32);
            let c = service::new_check_in(campaign, req, day, streak, settings, &due);
            made.push(Made { ask: i, c, total_before, run_start: day - Duration::days(streak as i64 - 1), due });
        }
        Ok(made)
    }

    /// Inserts the check-ins, claims their bonuses, credits the points,
    /// stores the events and queues the webhooks; answers each.
    async fn write(
        &mut self,
        conn: &mut PgConnection,
        mut made: Vec<Made>,
        settings: &CheckInSettings,
        policy: &points::Policy,
        reactions: &Reactions,
    ) -> Result<(), sqlx::Error> {
        let (ws, campaign) = (self.ws, self.campaign);
        let cs: Vec<CheckIn> = made.iter().map(|m| m.c.clone()).collect();
        let inserted: HashSet<Uuid> = repo::insert_many(conn, ws, &cs).await?.into_iter().collect();
        if inserted.len() != made.len() {
            // Under the member locks nothing else can have made these days.
            return Err(sqlx::Error::Protocol("a locked check-in day was taken".into()));
        }
        let claims: Vec<repo::Claim> = made
            .iter()
            .flat_map(|m| {
                m.due.iter().map(|r| repo::Claim {
                    id: Uuid::now_v7(),
                    campaign: campaign.id,
                    member: m.c.member_id,
                    run_start: m.run_start,
                    streak: m.c.streak,
                    check_in: m.c.id,
                    points: r.points,
                })
            })
            .collect();
        let claimed: HashSet<Uuid> = repo::claim_rewards(conn, ws, &claims).await?.into_iter().collect();
        let notes: Vec<String> = made.iter().map(|m| format!("{}-day streak", m.c.streak)).collect();
        let mut credits = Vec::new();
        let mut rewards: Vec<Vec<Reward>> = Vec::with_capacity(made.len());
        for (k, m) in made.iter_mut().enumerate() {
            let now = self.asks[m.ask].now;
            if settings.points > 0 {
                credits.push(points::Credit {
                    member: m.c.member_id,
                    points: settings.points,
                    kind: EntryKind::Earn,
                    source: Source::new(SourceType::CheckIn, m.c.id),
                    note: "check-in",
                    at: now,
                });
            }
            let mut got = Vec::new();
            for (claim, r) in claims.iter().filter(|cl| cl.check_in == m.c.id).zip(&m.due) {
                if !claimed.contains(&claim.id) {
                    continue;
                }
                credits.push(points::Credit {
                    member: m.c.member_id,
                    points: r.points,
                    kind: EntryKind::Earn,
                    source: Source::new(SourceType::StreakBonus, claim.id),
                    note: &notes[k],
                    at: now,
                });
                got.push(Reward { kind: "streak_bonus".into(), day: r.day, points: r.points });
            }
            let granted = settings.points + got.iter().map(|r| r.points).sum::<i64>();
            if granted != m.c.points_awarded {
                // A bonus this run already had (its days were made up before).
                m.c.points_awarded = granted;
                repo::set_points_awarded(conn, ws, m.c.id, granted).await?;
            }
            rewards.push(got);
        }
        let entries = points::credit_new_many(conn, ws, policy, &credits).await?;
        let latest = made.iter().map(|m| self.asks[m.ask].now).max().unwrap_or_else(Utc::now);
        let rows: Vec<_> =
            made.iter().map(|m| service::event_row(campaign, &m.c, self.asks[m.ask].req.source, latest)).collect();
        crate::events::reactions::store_new(conn, ws, &rows, latest, reactions).await?;
        let refs: Vec<&LedgerEntry> = entries.iter().collect();
        crate::points::outbound::announce(conn, ws, latest, &refs).await?;
        let mut balances: HashMap<MemberId, i64> = HashMap::new();
        for e in &entries {
            balances.insert(e.member_id, e.balance_after);
        }
        for (m, rewards) in made.into_iter().zip(rewards) {
            let balance = match balances.get(&m.c.member_id) {
                Some(b) => *b,
                None => crate::points::repo::balance(conn, ws, m.c.member_id).await?,
            };
            let c = m.c;
            self.answers[m.ask] = Some(Answer::Done(Box::new(CheckInResult {
                id: c.id,
                campaign_id: c.campaign_id,
                member_id: c.member_id,
                group_id: c.group_id,
                day: c.day,
                at: c.at,
                makeup: false,
                streak: c.streak,
                total_days: m.total_before + 1,
                points_awarded: c.points_awarded,
                rewards,
                points_spent: 0,
                balance,
            })));
        }
        Ok(())
    }
}
