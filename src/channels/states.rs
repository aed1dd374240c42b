//! WeCom joins through a channel: WeCom's `change_external_chat` callback
//! does not say which join way (加入群聊, made with the channel's code as
//! its `state`) a member came through; `externalcontact/groupchat/get`
//! does. A stored WeCom join without an invite code is queued (in the
//! events' transaction, when the workspace has channels); the campaign jobs
//! look the group up once for its queued joins and store, for each member
//! with a state, a repeated `member_joined` carrying it — the stint
//! projection merges it into the join (its invite code, hence its channel)
//! and the referral engine sees a join through an invite link. Failed
//! lookups are retried with backoff (1, 2, 4, 8 minutes), then dropped.
//! This file holds the SQL of `wecom_join_lookups`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::events::model::{EventKind, EventSource};
use crate::events::reactions::{Reaction, Reactions};
use crate::events::repo::Row;
use crate::ids::{GroupId, WorkspaceId};
use crate::platform::Platform;
use crate::platforms::outbound::AccessTokens;

/// Lookups tried this many times are dropped.
const MAX_ATTEMPTS: i32 = 5;

/// The subscriber that queues WeCom joins.
pub struct WecomJoins;

fn needs_state(r: &Row) -> bool {
    let named = ["invite_code", "channel"].iter().any(|k| r.properties.get(*k).is_some());
    r.source == EventSource::Wecom
        && r.kind == EventKind::MemberJoined.as_str()
        && !named
        && r.member_id.is_some()
        && r.group_id.is_some()
}

impl Reaction for WecomJoins {
    fn name(&self) -> &'static str {
        "wecom_join_states"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let joins: Vec<&Row> = events.iter().filter(|r| needs_state(r)).collect();
            if joins.is_empty() {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO wecom_join_lookups (workspace_id, event_id, group_id, member_id, joined_at, due_at)
                 SELECT $1, e, g, m, at, $6 FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[]) AS x(e, g, m, at)
                 WHERE EXISTS (SELECT 1 FROM channels WHERE workspace_id = $1)
                 ON CONFLICT DO NOTHING",
            )
            .bind(ws)
            .bind(joins.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(joins.iter().map(|r| r.group_id).collect::<Vec<_>>())
            .bind(joins.iter().map(|r| r.member_id).collect::<Vec<_>>())
            .bind(joins.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
            .bind(stored_at)
            .execute(conn)
            .await?;
            Ok(())
        })
    }
}

/// A queued lookup: (workspace, event, group, member, joined at, attempts).
type Lookup = (Uuid, Uuid, Uuid, Uuid, DateTime<Utc>, i32);

/// Looks up every due WeCom join, 50 at a time (claimed with `SKIP
/// LOCKED`: instances never share one); how many were settled.
pub async fn run_due(
    pool: &PgPool,
    http: &reqwest::Client,
    tokens: &AccessTokens,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let due: Vec<Lookup> = sqlx::query_as(
            "SELECT workspace_id, event_id, group_id, member_id, joined_at, attempts FROM wecom_join_lookups
             WHERE due_at <= $1 ORDER BY due_at LIMIT 50 FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(done);
        }
        let mut by_group: HashMap<(Uuid, Uuid), Vec<&Lookup>> = HashMap::new();
        for l in &due {
            by_group.entry((l.0, l.2)).or_default().push(l);
        }
        for ((ws, group), lookups) in by_group {
            let ws = WorkspaceId(ws);
            match states(&mut tx, http, tokens, ws, GroupId(group)).await? {
                Ok(states) => {
                    store(&mut tx, ws, &lookups, &states, now, reactions).await?;
                    settle(&mut tx, &lookups, None).await?;
                }
                Err(why) => {
                    tracing::warn!(group = %group, error = %why, "WeCom join states not read");
                    settle(&mut tx, &lookups, Some(now)).await?;
                }
            }
            done += lookups.len();
        }
        tx.commit().await?;
    }
}

/// The group's members' states by WeCom user id (`Err`: why not).
async fn states(
    conn: &mut PgConnection,
    http: &reqwest::Client,
    tokens: &AccessTokens,
    ws: WorkspaceId,
    group: GroupId,
) -> anyhow::Result<Result<HashMap<String, String>, String>> {
    let Some((platform, chat)) = super::repo::chat_of(conn, ws, group).await? else {
        return Ok(Ok(HashMap::new()));
    };
    if platform != Platform::Wecom {
        return Ok(Ok(HashMap::new()));
    }
    let conns = crate::connections::repo::active_with_credentials(conn, ws).await?;
    let Some(c) = conns.iter().find(|c| c.platform == Platform::Wecom) else {
        return Ok(Err("no active WeCom connection".into()));
    };
    let got = crate::platforms::wecom::groupchat::member_states(http, tokens, &c.credentials, &c.settings, &chat).await;
    Ok(got.map(|v| v.into_iter().collect()))
}

/// Stores a repeated join carrying the state for each looked-up member who has one.
async fn store(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    lookups: &[&Lookup],
    states: &HashMap<String, String>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<(), sqlx::Error> {
    let members: Vec<Uuid> = lookups.iter().map(|l| l.3).collect();
    let ids: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT external_id, member_id FROM member_identities
         WHERE workspace_id = $1 AND platform = 'wecom' AND member_id = ANY($2)",
    )
    .bind(ws)
    .bind(&members)
    .fetch_all(&mut *conn)
    .await?;
    let rows: Vec<Row> = lookups
        .iter()
        .filter_map(|l| {
            let state = ids.iter().filter(|(_, m)| *m == l.3).find_map(|(ext, _)| states.get(ext))?;
            Some(Row {
                id: crate::events::model::derive_id("wecom-join-state", &l.1.to_string()),
                kind: EventKind::MemberJoined.as_str().to_owned(),
                occurred_at: l.4,
                group_id: Some(l.2),
                member_id: Some(l.3),
                campaign_id: None,
                campaign_code: None,
                order_id: None,
                amount: None,
                currency: None,
                properties: serde_json::json!({"invite_code": state}),
                source: EventSource::Wecom,
                text: None,
            })
        })
        .collect();
    if !rows.is_empty() {
        crate::events::reactions::store(conn, ws, &rows, now, reactions).await?;
    }
    Ok(())
}

/// Removes settled lookups, or (`retry_from`) puts them off with backoff,
/// dropping those tried too often.
async fn settle(
    conn: &mut PgConnection,
    lookups: &[&Lookup],
    retry_from: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    for l in lookups {
        match retry_from.filter(|_| l.5 + 1 < MAX_ATTEMPTS) {
            Some(now) => {
                let due = now + Duration::minutes(1i64 << l.5.clamp(0, 10));
                sqlx::query(
                    "UPDATE wecom_join_lookups SET attempts = attempts + 1, due_at = $3
                     WHERE workspace_id = $1 AND event_id = $2",
                )
                .bind(l.0)
                .bind(l.1)
                .bind(due)
                .execute(&mut *conn)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM wecom_join_lookups WHERE workspace_id = $1 AND event_id = $2")
                    .bind(l.0)
                    .bind(l.1)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}
