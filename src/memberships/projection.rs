//! Membership stints as a projection of `member_joined` / `member_left`
//! events: for one (group, member) pair, the events sorted by
//! `(occurred_at, joins before leaves, id)` fold into stints, so any arrival
//! order — leave before join, duplicated joins, late events — ends in the
//! same state. At one instant a join sorts first: platforms stamp seconds,
//! and joining then being removed within a second (spam clean-up) is far
//! more common than leaving and re-joining within one.
//!
//! Fold rules: a join opens a stint unless one is open (a repeated join is
//! ignored); a leave closes the open stint; a leave with no open stint and no
//! earlier stint records a zero-length stint (the member was there before
//! tracking began); any other stray leave is a duplicate and ignored. A
//! repeated join fills in what the first lacked (source, inviter, code), so
//! a platform's two reports of one join (e.g. Telegram's service message and
//! its `chat_member` update) merge.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{JoinSource, Stint};
use super::repo;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// One membership event of a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipEvent {
    pub id: Uuid,
    pub joined: bool,
    pub at: DateTime<Utc>,
    pub source: Option<JoinSource>,
    pub inviter: Option<Uuid>,
    pub invite_code: Option<String>,
    pub reason: Option<String>,
}

/// Folds a pair's events into stints (see the module rules).
pub fn project(mut events: Vec<MembershipEvent>) -> Vec<Stint> {
    events.sort_by_key(|e| (e.at, !e.joined, e.id));
    let mut stints: Vec<Stint> = Vec::new();
    for e in events {
        let open = stints.last().is_some_and(|s| s.left_at.is_none());
        if e.joined {
            if open {
                if let Some(s) = stints.last_mut() {
                    if s.source == JoinSource::Unknown {
                        s.source = e.source.unwrap_or(JoinSource::Unknown);
                    }
                    s.inviter = s.inviter.or(e.inviter);
                    s.invite_code = s.invite_code.take().or(e.invite_code);
                }
            } else {
                stints.push(Stint {
                    joined_at: e.at,
                    left_at: None,
                    source: e.source.unwrap_or(JoinSource::Unknown),
                    inviter: e.inviter,
                    invite_code: e.invite_code,
                    leave_reason: None,
                });
            }
        } else if open {
            if let Some(s) = stints.last_mut() {
                s.left_at = Some(e.at);
                s.leave_reason = e.reason;
            }
        } else if stints.is_empty() {
            stints.push(Stint {
                joined_at: e.at,
                left_at: Some(e.at),
                source: JoinSource::Unknown,
                inviter: None,
                invite_code: None,
                leave_reason: e.reason,
            });
        }
    }
    stints
}

fn text(props: &serde_json::Value, key: &str) -> Option<String> {
    props.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

/// Recomputes the stints of these (member, group) pairs from their events,
/// rewriting only the pairs whose stints differ: a fixed number of
/// statements whatever the number of pairs. Serialised per member by row
/// locks, taken in member order so concurrent batches never wait in a cycle.
pub async fn sync_pairs(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    pairs: &[(MemberId, GroupId)],
) -> Result<(), sqlx::Error> {
    if pairs.is_empty() {
        return Ok(());
    }
    let members: Vec<Uuid> = pairs.iter().map(|p| p.0 .0).collect();
    let groups: Vec<Uuid> = pairs.iter().map(|p| p.1 .0).collect();
    let to_lock: Vec<MemberId> = pairs.iter().map(|p| p.0).collect();
    crate::members::repo::lock_in_order(conn, ws, &to_lock).await?;
    let mut events: HashMap<(Uuid, Uuid), Vec<MembershipEvent>> = HashMap::new();
    for e in crate::events::repo::membership_events(conn, ws, &members, &groups).await? {
        let props = &e.properties;
        events.entry((e.member_id, e.group_id)).or_default().push(MembershipEvent {
            id: e.id,
            joined: e.joined,
            at: e.occurred_at,
            source: text(props, "join_source").and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok()),
            inviter: text(props, "inviter_id").and_then(|s| s.parse().ok()),
            invite_code: text(props, "invite_code").or_else(|| text(props, "channel")),
            reason: text(props, "leave_reason"),
        });
    }
    let mut existing = repo::stints_of_pairs(conn, ws, &members, &groups).await?;
    let mut changed: Vec<(Uuid, Uuid)> = Vec::new();
    let mut stints: Vec<(Uuid, Uuid, Stint)> = Vec::new();
    for &(MemberId(m), GroupId(g)) in pairs {
        let wanted = project(events.remove(&(m, g)).unwrap_or_default());
        if existing.remove(&(m, g)).unwrap_or_default() == wanted {
            continue;
        }
        changed.push((m, g));
        stints.extend(wanted.into_iter().map(|s| (m, g, s)));
    }
    if changed.is_empty() {
        return Ok(());
    }
    repo::replace_stints(conn, ws, &changed, &stints).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u128, joined: bool, day: u32) -> MembershipEvent {
        MembershipEvent {
            id: Uuid::from_u128(n),
            joined,
            at: format!("2026-11-{day:02}T00:00:00Z").parse().unwrap(),
            source: joined.then_some(JoinSource::InviteLink),
            inviter: None,
            invite_code: None,
            reason: (!joined).then(|| "left".to_owned()),
        }
    }

    /// Every order of `events` gives the same stints.
    fn same_in_every_order(events: Vec<MembershipEvent>) -> Vec<Stint> {
        let expected = project(events.clone());
        let n = events.len();
        let mut idx: Vec<usize> = (0..n).collect();
        // Heap's algorithm over all permutations (n ≤ 6 here).
        fn permute(k: usize, idx: &mut Vec<usize>, events: &[MembershipEvent], expected: &[Stint]) {
            if k == 1 {
                let order: Vec<_> = idx.iter().map(|i| events[*i].clone()).collect();
                assert_eq!(project(order), expected);
                return;
            }
            for i in 0..k {
                permute(k - 1, idx, events, expected);
                let j = if k % 2 == 0 { i } else { 0 };
                idx.swap(j, k - 1);
            }
        }
        permute(n, &mut idx, &events, &expected);
        expected
    }

    #[test]
    fn join_leave_rejoin_gives_two_stints_in_any_arrival_order() {
        let s = same_in_every_order(vec![ev(1, true, 1), ev(2, false, 5), ev(3, true, 7)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].left_at, Some("2026-11-05T00:00:00Z".parse().unwrap()));
        assert_eq!(s[1].left_at, None);
        assert_eq!(s[1].source, JoinSource::InviteLink);
    }

    #[test]
    fn duplicate_joins_and_leaves_change_nothing() {
        let once = project(vec![ev(1, true, 1), ev(2, false, 5)]);
        let s = same_in_every_order(vec![ev(1, true, 1), ev(4, true, 2), ev(2, false, 5), ev(5, false, 6)]);
        assert_eq!(s, once);
    }

    #[test]
    fn at_one_instant_a_join_comes_before_a_leave() {
        let s = same_in_every_order(vec![ev(9, false, 3), ev(1, true, 3)]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].left_at, Some(s[0].joined_at));
        assert_eq!(s[0].source, JoinSource::InviteLink);
    }

    #[test]
    fn a_second_report_of_a_join_fills_in_what_the_first_lacked() {
        let mut bare = ev(1, true, 1);
        bare.source = None;
        let mut linked = ev(2, true, 1);
        linked.invite_code = Some("poster-A".into());
        let s = same_in_every_order(vec![bare, linked]);
        assert_eq!((s[0].source, s[0].invite_code.as_deref()), (JoinSource::InviteLink, Some("poster-A")));
    }

    #[test]
    fn a_leave_without_any_join_records_a_zero_length_stint() {
        let s = project(vec![ev(1, false, 3)]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].joined_at, s[0].left_at.unwrap());
        assert_eq!(s[0].source, JoinSource::Unknown);
        let s = same_in_every_order(vec![ev(1, false, 3), ev(2, true, 4), ev(3, false, 6)]);
        assert_eq!(s.len(), 2);
    }
}
