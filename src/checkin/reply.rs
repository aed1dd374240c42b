//! The bot's answer to a check-in typed in chat: the campaign's
//! `reply_content_id` rendered with the check-in's figures and queued as a
//! delivery to the group (sent by the delivery workers through the group's
//! connection, like an SOP message), in the check-in's transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::CheckInResult;
use crate::campaigns::model::Campaign;
use crate::campaigns::settings::CheckInSettings;
use crate::contents::model::Message;
use crate::contents::template::{CheckInVars, Context};
use crate::deliveries::model::{Channel, DeliveryState};
use crate::deliveries::repo::NewReply;
use crate::ids::WorkspaceId;

/// Queues the reply to `done`, when the campaign has one and the check-in
/// was made in a group.
pub async fn queue(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: &Campaign,
    settings: &CheckInSettings,
    done: &CheckInResult,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (Some(content_id), Some(group)) = (settings.reply_content_id, done.group_id) else { return Ok(()) };
    let Some(content) = crate::contents::repo::get(conn, ws, content_id).await? else { return Ok(()) };
    let Some(vars) = crate::contents::repo::group_vars(conn, ws, &[group.0]).await?.into_iter().next() else {
        return Ok(());
    };
    let name = crate::members::repo::display_names(conn, ws, &[done.member_id]).await?;
    let local = now.with_timezone(&crate::clock::zone(&vars.timezone)).naive_local();
    let mut ctx = Context {
        member_display_name: name.into_iter().next().map(|(_, n)| n).unwrap_or_default(),
        local: Some(local),
        checkin: Some(CheckInVars {
            streak: done.streak as i64,
            total_days: done.total_days as i64,
            points_awarded: done.points_awarded,
            balance: done.balance,
        }),
        ..Context::default()
    };
    vars.fill(&mut ctx);
    if let Some(c) = crate::contents::repo::campaign_vars(conn, ws, campaign.id).await? {
        c.fill(&mut ctx);
    }
    let routes = crate::deliveries::route::resolve(conn, ws, None, &[group.0]).await?;
    let route = routes.get(&group.0);
    let (state, error) = match route.and_then(|r| r.error.clone()) {
        Some(e) => (DeliveryState::Dead, Some(e)),
        None if route.is_none() => (DeliveryState::Dead, Some("no connection reaches this group".to_owned())),
        None => (DeliveryState::Pending, None),
    };
    let reply = NewReply {
        check_in: done.id,
        group: group.0,
        member: done.member_id.0,
        content: content.id.0,
        connection: route.and_then(|r| r.connection_id),
        channel: route.map(|r| r.channel).unwrap_or(Channel::None),
        at: now,
        local_time: local.format("%Y-%m-%dT%H:%M").to_string(),
        state,
        message: Message { kind: content.kind, body: content.body.render(&ctx) },
        error,
    };
    crate::deliveries::repo::insert_reply(conn, ws, reply).await?;
    crate::deliveries::repo::announce(conn).await
}
