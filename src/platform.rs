//! Chat platforms and platform identities (platform + external user/chat id).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::Checks;

/// A chat platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Platform {
    /// WeCom (企业微信) customer groups.
    Wecom,
    Telegram,
    Slack,
    /// Feishu / Lark.
    Feishu,
    Dingtalk,
    /// Any other source (shops, mini-programs, imports).
    Generic,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 6] =
        [Self::Wecom, Self::Telegram, Self::Slack, Self::Feishu, Self::Dingtalk, Self::Generic];

    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Wecom => "wecom",
            Platform::Telegram => "telegram",
            Platform::Slack => "slack",
            Platform::Feishu => "feishu",
            Platform::Dingtalk => "dingtalk",
            Platform::Generic => "generic",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// An account on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub platform: Platform,
    /// The platform's own id of the user (or chat).
    #[schema(schema_with = crate::validate::schema::external_id)]
    pub external_id: String,
}

/// Most identities of one member or staff member.
pub const MAX_IDENTITIES: usize = 20;

/// The schema of [`check_identities`]: at most [`MAX_IDENTITIES`], none twice.
pub fn identities_schema() -> utoipa::openapi::schema::Array {
    crate::validate::schema::distinct(crate::validate::schema::reference::<Identity>(), MAX_IDENTITIES, false)
}

/// [`identities_schema`] or `null`.
pub fn opt_identities_schema() -> utoipa::openapi::schema::Array {
    crate::validate::schema::distinct(crate::validate::schema::reference::<Identity>(), MAX_IDENTITIES, true)
}

/// Checks an external id: 1..=128 characters, no control characters, no surrounding spaces.
pub fn check_external_id(c: &mut Checks, field: &str, v: &str) {
    if v.is_empty() || v.chars().count() > 128 || v.trim() != v || v.chars().any(char::is_control) {
        c.fail(field, "invalid", "must be 1-128 characters without control characters or surrounding spaces");
    }
}

/// Checks a list of identities (and that none repeats).
pub fn check_identities(c: &mut Checks, field: &str, ids: &[Identity]) {
    if ids.len() > MAX_IDENTITIES {
        c.fail(field, "too_many", format!("at most {MAX_IDENTITIES} identities"));
    }
    for (i, id) in ids.iter().enumerate() {
        check_external_id(c, &format!("{field}[{i}].external_id"), &id.external_id);
        if ids[..i].contains(id) {
            c.fail(format!("{field}[{i}]"), "duplicate", "this identity is listed twice");
        }
    }
}

/// Platform id → Shequn id (a member by identity, a group by chat id), per
/// workspace, as this instance last read it. Each workspace's entries are
/// tagged with the epoch they were read under and served only under that
/// epoch, so a caller whose mapping can change (identities removed or moved:
/// `identity_epochs`) reads the current epoch first and never gets a stale
/// entry; a mapping that never changes uses epoch 0. Callers put only rows
/// known to be committed (their inserting transaction older than every one
/// running: `age(xmin) > age(pg_snapshot_xmin(pg_current_snapshot())::xid)`).
#[derive(Default)]
pub struct PlatformIds(std::sync::Mutex<PlatformIdMap>);

impl std::fmt::Debug for PlatformIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.entries).unwrap_or(0);
        f.debug_struct("PlatformIds").field("entries", &n).finish()
    }
}

/// The platform-id caches of one process, held by the application state.
#[derive(Debug, Default)]
pub struct IdCaches {
    /// Platform identity → member id, under the workspace's identity epoch.
    pub members: PlatformIds,
    /// Platform chat id → group id, for good (epoch 0).
    pub groups: PlatformIds,
}

/// A workspace's cached ids and the epoch they were read under.
type Epoch = (i64, std::collections::HashMap<(Platform, String), uuid::Uuid>);

#[derive(Default)]
struct PlatformIdMap {
    by_workspace: std::collections::HashMap<crate::ids::WorkspaceId, Epoch>,
    entries: usize,
}

impl PlatformIds {
    /// Bounds the memory held (~100 bytes an entry): past it, everything is dropped.
    pub const MAX: usize = 100_000;

    /// The cached ids of `keys` under `epoch`; a workspace cached under
    /// another epoch is forgotten first.
    pub fn get<'a>(
        &self,
        ws: crate::ids::WorkspaceId,
        epoch: i64,
        keys: impl Iterator<Item = (Platform, &'a str)>,
    ) -> std::collections::HashMap<(Platform, String), uuid::Uuid> {
        let mut map = self.0.lock().unwrap_or_else(|x| x.into_inner());
        let PlatformIdMap { by_workspace, entries } = &mut *map;
        let Some((cached_epoch, ids)) = by_workspace.get(&ws) else { return Default::default() };
        if *cached_epoch != epoch {
            *entries -= ids.len();
            by_workspace.remove(&ws);
            return Default::default();
        }
        keys.filter_map(|(p, e)| {
            let key = (p, e.to_owned());
            ids.get(&key).map(|id| (key, *id))
        })
        .collect()
    }

    /// Remembers committed ids read under `epoch` (ignored if the workspace
    /// is cached under a newer one meanwhile).
    pub fn put<'a>(
        &self,
        ws: crate::ids::WorkspaceId,
        epoch: i64,
        found: impl Iterator<Item = (Platform, &'a str, uuid::Uuid)>,
    ) {
        let mut map = self.0.lock().unwrap_or_else(|x| x.into_inner());
        let PlatformIdMap { by_workspace, entries } = &mut *map;
        let slot = by_workspace.entry(ws).or_insert_with(|| (epoch, Default::default()));
        if slot.0 > epoch {
            return;
        }
        if slot.0 < epoch {
            *entries -= slot.1.len();
            *slot = (epoch, Default::default());
        }
        for (p, e, id) in found {
            if slot.1.insert((p, e.to_owned()), id).is_none() {
                *entries += 1;
            }
        }
        if *entries > Self::MAX {
            by_workspace.clear();
            *entries = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Platform::Telegram;
    use super::PlatformIds;
    use crate::ids::WorkspaceId;
    use uuid::Uuid;

    /// Entries are served only under the epoch they were read under; a put
    /// read under an older epoch than the cache's is dropped.
    #[test]
    fn ids_are_served_only_under_their_epoch() {
        let cache = PlatformIds::default();
        let ws = WorkspaceId(Uuid::now_v7());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let keys = |names: &'static [&'static str]| names.iter().map(|n| (Telegram, *n));
        cache.put(ws, 3, [(Telegram, "u1", a)].into_iter());
        assert_eq!(cache.get(ws, 3, keys(&["u1", "u2"])).into_values().collect::<Vec<_>>(), vec![a]);
        assert!(cache.get(WorkspaceId(Uuid::now_v7()), 3, keys(&["u1"])).is_empty());
        // The epoch moved on (an identity was removed somewhere): forgotten.
        assert!(cache.get(ws, 4, keys(&["u1"])).is_empty());
        assert!(cache.get(ws, 3, keys(&["u1"])).is_empty());
        cache.put(ws, 4, [(Telegram, "u1", b)].into_iter());
        // A batch that read epoch 3 before the removal must not bring the old entry back.
        cache.put(ws, 3, [(Telegram, "u1", a), (Telegram, "u2", a)].into_iter());
        assert_eq!(cache.get(ws, 4, keys(&["u1", "u2"])).into_values().collect::<Vec<_>>(), vec![b]);
        assert_eq!(cache.0.lock().unwrap().entries, 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PlatformIds::default();
        let ws = WorkspaceId(Uuid::now_v7());
        let names: Vec<String> = (0..=PlatformIds::MAX).map(|i| format!("u{i}")).collect();
        cache.put(ws, 0, names.iter().map(|n| (Telegram, n.as_str(), Uuid::nil())));
        let map = cache.0.lock().unwrap();
        assert_eq!(map.entries, 0);
        assert!(map.by_workspace.is_empty());
    }
}
