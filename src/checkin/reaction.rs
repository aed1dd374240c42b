//! Check-ins typed in chat: a newly stored `message_sent` from a platform
//! webhook whose text is a keyword of a running check-in campaign that
//! targets the group is a check-in at the message's time. Reactions see
//! only newly stored events, so a platform's redelivery checks nobody in
//! twice; a member who already checked in that day is left alone.
//!
//! This reaction runs last: the `checked_in` events it stores are handed
//! to the reactions before it (`before`), so they are counted like any
//! other event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::model::CheckInChannel;
use super::service::{self, Request};
use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus};
use crate::campaigns::settings::CheckInSettings;
use crate::events::model::{EventKind, EventSource};
use crate::events::reactions::{Reaction, Reactions};
use crate::events::repo::Row;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

/// The chat check-in subscriber.
pub struct ChatCheckIns {
    /// The reactions that run on the check-ins' events.
    pub before: Reactions,
}

impl Reaction for ChatCheckIns {
    fn name(&self) -> &'static str {
        "chat_check_ins"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let candidates: Vec<&Row> = events.iter().filter(|r| is_candidate(r)).collect();
            if candidates.is_empty() {
                return Ok(());
            }
            let campaigns = running(conn, ws).await?;
            if campaigns.is_empty() {
                return Ok(());
            }
            let mut targets: HashMap<(CampaignId, GroupId), bool> = HashMap::new();
            for r in candidates {
                let (Some(text), Some(member), Some(group)) = (&r.text, r.member_id, r.group_id) else { continue };
                let group = GroupId(group);
                for (c, settings) in campaigns.iter().filter(|(_, s)| s.matches(text)) {
                    let key = (c.id, group);
                    let targeted = match targets.get(&key) {
                        Some(t) => *t,
                        None => {
                            let t = crate::campaigns::targets_group(conn, ws, c, group).await?;
                            targets.insert(key, t);
                            t
                        }
                    };
                    if !targeted {
                        continue;
                    }
                    let req = Request {
                        member: MemberId(member),
                        group: Some(group),
                        at: r.occurred_at,
                        makeup_day: None,
                        channel: CheckInChannel::Chat,
                        source: r.source,
                    };
                    if let Ok(done) = service::check_in(conn, ws, c, &req, stored_at, &self.before).await? {
                        super::reply::queue(conn, ws, c, settings, &done, stored_at).await?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// A chat message from a platform that may be a keyword.
fn is_candidate(r: &Row) -> bool {
    r.text.is_some()
        && r.member_id.is_some()
        && r.group_id.is_some()
        && EventKind::MessageSent.is(&r.kind)
        && !matches!(r.source, EventSource::Api | EventSource::Import)
}

/// The workspace's running check-in campaigns with their settings.
async fn running(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<(Campaign, CheckInSettings)>, sqlx::Error> {
    let f = crate::campaigns::repo::Filter {
        status: Some(CampaignStatus::Running),
        kind: Some(CampaignKind::CheckIn),
        ..Default::default()
    };
    let list = crate::campaigns::repo::list(conn, ws, &f, None, 200).await?;
    Ok(list
        .into_iter()
        .map(|c| {
            let s = CheckInSettings::from_stored(&c.settings);
            (c, s)
        })
        .collect())
}
