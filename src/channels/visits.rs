//! Visits counted per (channel, local day, group sent to) in memory and
//! added to `channel_visits` about once a second by one task, so the public
//! link's throughput does not depend on one row per visit. A process that
//! dies loses at most its last second of counts (a visit is a tally for
//! the stats, not an operator's data); the stats endpoint adds this
//! process's counts before it reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use sqlx::PgPool;
use uuid::Uuid;

use super::repo;
use super::service::Visit;
use crate::ids::WorkspaceId;

type Key = (WorkspaceId, Uuid, NaiveDate, Option<Uuid>);

/// The visits counted and not yet stored.
#[derive(Clone, Default)]
pub struct VisitTally(Arc<Mutex<HashMap<Key, i64>>>);

impl std::fmt::Debug for VisitTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitTally").finish()
    }
}

impl VisitTally {
    /// A tally whose counts a task stores every second.
    pub fn start(pool: &PgPool) -> Self {
        let t = Self::default();
        let (tally, pool) = (t.clone(), pool.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = tally.flush(&pool).await {
                    tracing::warn!(error = %e, "channel visits not stored yet");
                }
            }
        });
        t
    }

    /// Counts one visit.
    pub fn count(&self, v: &Visit) {
        let key = (v.ws, v.channel, v.day, v.to.as_ref().map(|t| t.0 .0));
        if let Ok(mut m) = self.0.lock() {
            *m.entry(key).or_default() += 1;
        }
    }

    /// Stores what is counted (kept for the next try when storing fails).
    pub async fn flush(&self, pool: &PgPool) -> anyhow::Result<()> {
        let taken: Vec<_> = match self.0.lock() {
            Ok(mut m) if !m.is_empty() => std::mem::take(&mut *m).into_iter().collect(),
            _ => return Ok(()),
        };
        let rows: Vec<_> = taken.iter().map(|&((ws, ch, day, g), n)| (ws, ch, day, g, n)).collect();
        let stored = async {
            let mut conn = pool.acquire().await?;
            repo::add_visits(&mut conn, &rows).await?;
            anyhow::Ok(())
        }
        .await;
        if stored.is_err() {
            if let Ok(mut m) = self.0.lock() {
                for (k, n) in taken {
                    *m.entry(k).or_default() += n;
                }
            }
        }
        stored
    }
}

/// Visits per client address in the current minute (per process).
#[derive(Clone, Default)]
pub struct VisitLimiter(Arc<Mutex<HashMap<String, (Instant, u32)>>>);

impl std::fmt::Debug for VisitLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitLimiter").finish()
    }
}

impl VisitLimiter {
    /// Counts a visit of `addr`: `false` past `per_minute` in its minute.
    pub fn allow(&self, addr: &str, per_minute: u32) -> bool {
        let now = Instant::now();
        let mut m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > 100_000 {
            m.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let e = m.entry(addr.to_owned()).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= per_minute
    }
}

/// What the public link shares: the limit per address, the tally and the
/// HTTP client that makes platform invite links.
#[derive(Clone, Debug)]
pub struct Visits {
    pub limiter: VisitLimiter,
    pub tally: VisitTally,
    pub http: reqwest::Client,
    pub codes: CodeCache,
    pub turns: Turns,
}

impl Visits {
    /// Starts the tally's task (call inside the runtime).
    pub fn start(pool: &PgPool, http: reqwest::Client) -> Self {
        Self {
            limiter: VisitLimiter::default(),
            tally: VisitTally::start(pool),
            http,
            codes: CodeCache::default(),
            turns: Turns::default(),
        }
    }
}

/// A channel as a visit reads it: (workspace, its time zone, the row).
pub type Found = Option<(WorkspaceId, String, super::repo::Row)>;

/// Channels by code, each kept for a second (unknown codes too), so a burst
/// of visits reads a channel once a second rather than once a visit: an
/// operator's change reaches the link within a second.
#[derive(Clone, Default)]
pub struct CodeCache(Arc<Mutex<HashMap<String, (Instant, Found)>>>);

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache").finish()
    }
}

/// How long a code's channel is kept.
const KEEP: Duration = Duration::from_secs(1);

impl CodeCache {
    /// The cached channel of `code`, if read within the last second.
    pub fn get(&self, code: &str) -> Option<Found> {
        let m = self.0.lock().ok()?;
        m.get(code).filter(|(at, _)| at.elapsed() < KEEP).map(|(_, f)| f.clone())
    }

    /// Keeps what `code` read.
    pub fn put(&self, code: &str, found: Found) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 10_000 {
                m.retain(|_, (at, _)| at.elapsed() < KEEP);
            }
            m.insert(code.to_owned(), (Instant::now(), found));
        }
    }

    /// Forgets `code` (its channel changed: a full spell began or ended).
    pub fn forget(&self, code: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(code);
        }
    }
}

/// Round-robin turns per channel, per process: each instance takes the
/// groups with room in turn (no shared row to write on every visit).
#[derive(Clone, Default)]
pub struct Turns(Arc<Mutex<HashMap<uuid::Uuid, u64>>>);

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns").finish()
    }
}

impl Turns {
    /// The channel's next turn.
    pub fn next(&self, channel: uuid::Uuid) -> u64 {
        let Ok(mut m) = self.0.lock() else { return 0 };
        let t = m.entry(channel).or_insert(0);
        *t = t.wrapping_add(1);
        *t - 1
    }
}
