//! What the operator's endpoints hear of SOP sends, in the transaction that
//! records the answers: `delivery.dead` (a send that failed for good),
//! `delivery.awaiting_confirmation` (a mass send handed to the group
//! owner), and, through the connections' send health, `connection.failing`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::DeliveryState;
use super::repo::Recorded;
use crate::connections::health::{self, Sends};
use crate::ids::{ConnectionId, WorkspaceId};
use crate::webhooks::catalogue::{DeliveryAwaitingConfirmation, DeliveryDead};
use crate::webhooks::outbox::{self, Outgoing};

/// The channel's JSON spelling.
fn channel(r: &Recorded) -> String {
    serde_json::to_value(r.channel).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Announces what `recorded` (in outcome order) says.
pub async fn announce(conn: &mut PgConnection, recorded: &[Recorded], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let mut by_ws: BTreeMap<WorkspaceId, Vec<Outgoing>> = BTreeMap::new();
    let mut sends: BTreeMap<(WorkspaceId, ConnectionId), Sends> = BTreeMap::new();
    for r in recorded {
        let msg = match r.state {
            DeliveryState::Dead => Some(Outgoing::new(
                now,
                &DeliveryDead {
                    delivery_id: r.id.0,
                    plan_id: r.plan_id.map(|p| p.0),
                    step_id: r.step_id.map(|s| s.0),
                    group_id: r.group_id.0,
                    channel: channel(r),
                    attempts: r.attempts,
                    last_error: r.last_error.clone(),
                    slot_at: r.slot_at,
                },
            )?),
            DeliveryState::AwaitingConfirmation => Some(Outgoing::new(
                now,
                &DeliveryAwaitingConfirmation {
                    delivery_id: r.id.0,
                    plan_id: r.plan_id.map(|p| p.0),
                    step_id: r.step_id.map(|s| s.0),
                    group_id: r.group_id.0,
                    channel: channel(r),
                    sent_at: r.sent_at,
                    slot_at: r.slot_at,
                },
            )?),
            _ => None,
        };
        by_ws.entry(r.workspace_id).or_default().extend(msg);
        if let (Some(c), true) = (r.connection_id, r.attempted) {
            let ok = matches!(r.state, DeliveryState::Sent | DeliveryState::AwaitingConfirmation);
            let s = sends.entry((r.workspace_id, c)).or_insert_with(|| Sends {
                workspace_id: r.workspace_id,
                connection_id: c,
                results: vec![],
                last_error: None,
            });
            s.results.push(ok);
            if !ok {
                s.last_error = r.last_error.clone();
            }
        }
    }
    for (ws, msgs) in by_ws {
        outbox::emit(conn, ws, now, &msgs).await?;
    }
    health::record(conn, sends.into_values().collect(), now).await
}
