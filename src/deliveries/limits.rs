//! Per-connection and per-group send rate limits, from the platforms'
//! published limits (each platform's `Outbound::limits`: Telegram 30
//! messages/s per bot and 20/min per group, Slack 1/s per channel, WeCom
//! group robot 20/min, Feishu custom bot 5/s and 100/min). Sliding windows
//! over the injected clock, held per process: with several instances each
//! enforces the limits on its own sends.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::model::Channel;

/// What a limit is counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Connection(Uuid),
    Group(Uuid),
}

fn limits(channel: Channel) -> &'static [crate::platforms::outbound::Limit] {
    crate::platforms::outbound_of(channel).map_or(&[], |o| o.limits())
}

/// Send times in one window, keyed by scope and window length (ms).
type Windows = HashMap<(Scope, i64), VecDeque<DateTime<Utc>>>;

/// A send refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When the window has room again.
    pub free: DateTime<Utc>,
    /// The connection whose window (over all its groups) is full; `None`
    /// when it was the group's own window.
    pub connection: Option<Uuid>,
}

/// Sliding-window counters.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// Takes a slot for one send now, or says when the earliest one frees
    /// (and whether the full window was the whole connection's).
    pub fn acquire(
        &self,
        channel: Channel,
        connection: Option<Uuid>,
        group: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), Throttled> {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = Vec::new();
        for l in limits(channel) {
            let (ms, window) = (l.window_ms, Duration::milliseconds(l.window_ms));
            let scope = match (l.per_group, connection) {
                (true, _) => Scope::Group(group),
                (false, Some(c)) => Scope::Connection(c),
                (false, None) => continue,
            };
            let q = w.entry((scope, ms)).or_default();
            while q.front().is_some_and(|t| *t <= now - window) {
                q.pop_front();
            }
            if q.len() >= l.max {
                let free = q.front().map(|t| *t + window).unwrap_or(now);
                let connection = match scope {
                    Scope::Connection(c) => Some(c),
                    Scope::Group(_) => None,
                };
                return Err(Throttled { free, connection });
            }
            keys.push((scope, ms));
        }
        for k in keys {
            w.entry(k).or_default().push_back(now);
        }
        if w.len() > 100_000 {
            w.retain(|(_, ms), q| q.back().is_some_and(|t| *t > now - Duration::milliseconds(*ms)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_wecom_robot_sends_twenty_a_minute_per_group() {
        let l = RateLimiter::default();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for i in 0..20 {
            assert!(l.acquire(Channel::WecomRobot, None, a, t0 + Duration::seconds(i)).is_ok());
        }
        assert_eq!(
            l.acquire(Channel::WecomRobot, None, a, t0 + Duration::seconds(30)),
            Err(Throttled { free: t0 + Duration::seconds(60), connection: None })
        );
        assert!(l.acquire(Channel::WecomRobot, None, b, t0 + Duration::seconds(30)).is_ok(), "another group");
        assert!(l.acquire(Channel::WecomRobot, None, a, t0 + Duration::seconds(60)).is_ok(), "the window slid");
    }

    #[test]
    fn a_telegram_bot_sends_thirty_a_second_across_groups() {
        let l = RateLimiter::default();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
        let bot = Some(Uuid::from_u128(9));
        for g in 0..30 {
            assert!(l.acquire(Channel::Telegram, bot, Uuid::from_u128(g), t0).is_ok());
        }
        assert_eq!(
            l.acquire(Channel::Telegram, bot, Uuid::from_u128(99), t0),
            Err(Throttled { free: t0 + Duration::seconds(1), connection: bot })
        );
        assert!(l.acquire(Channel::Generic, bot, Uuid::from_u128(99), t0).is_ok(), "no limit on webhooks");
    }
}
