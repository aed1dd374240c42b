//! A short-lived in-memory cache of connection records for the webhook hot
//! path. Entries live 5 seconds; this instance drops an entry as soon as it
//! changes the connection, other instances see the change within 5 seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use super::repo::{self, ConnectionRecord};

/// Most entries kept (unknown ids are cached too, so the map is bounded).
const MAX_ENTRIES: usize = 10_000;

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(5);

/// The cache.
#[derive(Default)]
pub struct ConnectionCache {
    entries: Mutex<HashMap<Uuid, (Instant, Option<ConnectionRecord>)>>,
    /// When this instance last recorded a request of a connection.
    touched: Mutex<HashMap<Uuid, Instant>>,
}

impl std::fmt::Debug for ConnectionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionCache")
    }
}

impl ConnectionCache {
    /// The record for `id` (also caching that none exists).
    pub async fn get(&self, pool: &PgPool, id: Uuid) -> Result<Option<ConnectionRecord>, sqlx::Error> {
        if let Some((at, rec)) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            if at.elapsed() < TTL {
                return Ok(rec.clone());
            }
        }
        let mut conn = pool.acquire().await?;
        let rec = repo::record(&mut conn, id).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            // Still full (e.g. a flood of unknown ids): start over rather than grow.
            if entries.len() > MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id, (Instant::now(), rec.clone()));
        Ok(rec)
    }

    /// Whether this instance should record a request of `id` now: not if
    /// it did within `every` (a cached record shows the time only once it is
    /// refreshed, so it alone would let every request of those seconds write).
    pub fn should_touch(&self, id: Uuid, every: Duration) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.get(&id).is_some_and(|at| at.elapsed() < every) {
            return false;
        }
        if touched.len() > MAX_ENTRIES {
            touched.retain(|_, at| at.elapsed() < every);
        }
        touched.insert(id, Instant::now());
        true
    }

    /// Forgets `id` (after a change).
    pub fn forget(&self, id: Uuid) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_touched_once_per_interval() {
        let cache = ConnectionCache::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(cache.should_touch(a, Duration::from_secs(60)));
        assert!(!cache.should_touch(a, Duration::from_secs(60)));
        assert!(cache.should_touch(b, Duration::from_secs(60)));
        assert!(cache.should_touch(a, Duration::ZERO), "the interval has passed");
    }
}
