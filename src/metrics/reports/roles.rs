//! The people driving a group (DOMAIN: core creators post, active followers
//! relay, sharers bring friends; the rest lurk), from each member's figures
//! in the group over a window. Definitions in `docs/metrics.md`.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::store::repo::MemberInGroup;

/// A member in a role list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleMember {
    pub member_id: Uuid,
    pub display_name: String,
    pub messages: i64,
    pub message_days: i64,
    pub active_days: i64,
    /// Members who joined the group in the window naming them as inviter.
    pub invitees: i64,
    /// Their `member_invited` events in the group.
    pub invite_events: i64,
}

/// Members per role.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RoleCounts {
    /// Members who belonged to the group at some time in the window.
    pub members: i64,
    pub core_creators: i64,
    pub active_followers: i64,
    pub sharers: i64,
    /// Belonged, but active on no day in the group.
    pub lurkers: i64,
}

/// The role lists of a group (each cut to the list size) and the counts.
#[derive(Debug)]
pub struct Roles {
    pub counts: RoleCounts,
    pub core_creators: Vec<RoleMember>,
    pub active_followers: Vec<RoleMember>,
    pub sharers: Vec<RoleMember>,
}

impl Roles {
    /// The members the lists show (to look their names up).
    pub fn listed(&self) -> Vec<Uuid> {
        self.lists().map(|m| m.member_id).collect()
    }

    /// Fills in the listed members' display names.
    pub fn name(&mut self, names: &HashMap<Uuid, String>) {
        for m in self.core_creators.iter_mut().chain(&mut self.active_followers).chain(&mut self.sharers) {
            m.display_name = names.get(&m.member_id).cloned().unwrap_or_default();
        }
    }

    fn lists(&self) -> impl Iterator<Item = &RoleMember> {
        self.core_creators.iter().chain(&self.active_followers).chain(&self.sharers)
    }
}

fn blank(member_id: Uuid) -> RoleMember {
    RoleMember {
        member_id,
        display_name: String::new(),
        messages: 0,
        message_days: 0,
        active_days: 0,
        invitees: 0,
        invite_events: 0,
    }
}

/// Sorted by `key` (largest first), then member id.
fn ranked<K: Ord>(
    all: &HashMap<Uuid, RoleMember>,
    keep: impl Fn(&RoleMember) -> bool,
    key: impl Fn(&RoleMember) -> K,
) -> Vec<RoleMember> {
    let mut out: Vec<RoleMember> = all.values().filter(|m| keep(m)).cloned().collect();
    out.sort_by(|a, b| key(b).cmp(&key(a)).then(a.member_id.cmp(&b.member_id)));
    out
}

/// Classifies the members: `rows` (their figures), `invitees` (members each
/// brought in), `belonged` (who was in the group at some time in the window);
/// each list cut to `limit`.
pub fn classify(
    rows: Vec<MemberInGroup>,
    invitees: &HashMap<Uuid, i64>,
    belonged: &HashSet<Uuid>,
    limit: usize,
) -> Roles {
    let mut all: HashMap<Uuid, RoleMember> = HashMap::new();
    for r in rows {
        let m = all.entry(r.member_id).or_insert_with(|| blank(r.member_id));
        (m.messages, m.message_days, m.active_days, m.invite_events) =
            (r.messages, r.message_days, r.active_days, r.invite_events);
    }
    for (id, n) in invitees {
        all.entry(*id).or_insert_with(|| blank(*id)).invitees = *n;
    }
    // The top 10 % of senders (at least one), if they sent on 3 days or more.
    let senders = ranked(&all, |m| m.messages > 0, |m| m.messages);
    let top = senders.len().div_ceil(10);
    let core: HashSet<Uuid> = senders.iter().take(top).filter(|m| m.message_days >= 3).map(|m| m.member_id).collect();
    let mut core_creators = ranked(&all, |m| core.contains(&m.member_id), |m| m.messages);
    let mut active_followers = ranked(&all, |m| m.active_days >= 3 && !core.contains(&m.member_id), |m| m.active_days);
    let mut sharers = ranked(&all, |m| m.invitees > 0 || m.invite_events > 0, |m| (m.invitees, m.invite_events));
    let active: HashSet<Uuid> = all.values().filter(|m| m.active_days > 0).map(|m| m.member_id).collect();
    let counts = RoleCounts {
        members: belonged.len() as i64,
        core_creators: core_creators.len() as i64,
        active_followers: active_followers.len() as i64,
        sharers: sharers.len() as i64,
        lurkers: belonged.iter().filter(|m| !active.contains(m)).count() as i64,
    };
    for list in [&mut core_creators, &mut active_followers, &mut sharers] {
        list.truncate(limit);
    }
    Roles { counts, core_creators, active_followers, sharers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u128, messages: i64, message_days: i64, active_days: i64, invite_events: i64) -> MemberInGroup {
        MemberInGroup { member_id: Uuid::from_u128(n), active_days, message_days, messages, invite_events }
    }

    #[test]
    fn core_creators_are_the_top_tenth_of_senders_on_three_days_and_the_rest_follow_share_or_lurk() {
        // Eleven senders: the top tenth is two members; member 2 sent on two days only.
        let mut rows: Vec<MemberInGroup> = (3..=11).map(|n| row(n, 1, 1, 3, 0)).collect();
        rows.push(row(1, 50, 5, 6, 0));
        rows.push(row(2, 40, 2, 2, 1));
        let invitees = HashMap::from([(Uuid::from_u128(20), 2)]);
        let belonged: HashSet<Uuid> = (1..=12).chain([20]).map(Uuid::from_u128).collect();
        let r = classify(rows, &invitees, &belonged, 5);
        let ids = |l: &[RoleMember]| l.iter().map(|m| m.member_id.as_u128()).collect::<Vec<_>>();
        assert_eq!(ids(&r.core_creators), [1]);
        assert_eq!(ids(&r.active_followers), [3, 4, 5, 6, 7], "by active days, then id, cut to the limit");
        assert_eq!(ids(&r.sharers), [20, 2], "invitees first, then invite events");
        assert_eq!(
            (r.counts.members, r.counts.core_creators, r.counts.active_followers, r.counts.sharers, r.counts.lurkers),
            (13, 1, 9, 2, 2),
            "12 and 20 never active"
        );
        assert_eq!(r.listed().len(), 1 + 5 + 2);
    }
}
