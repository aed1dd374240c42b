//! `{{lottery.commitment}}` (the warm-up post: the commitment to the seed,
//! made now if the lottery has none yet) and `{{lottery.winners}}` (the
//! announcement: each winner's masked name and prize, once drawn) of a
//! lottery campaign's posts.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::model::mask;
use super::repo;
use crate::campaigns::model::CampaignKind;
use crate::contents::live::LiveSource;
use crate::ids::{CampaignId, WorkspaceId};

/// The lottery engine's live variables.
#[derive(Debug, Clone, Copy)]
pub struct Lotteries;

impl LiveSource for Lotteries {
    fn values<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        _tz: chrono_tz::Tz,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(&'static str, String)>, sqlx::Error>> {
        Box::pin(async move {
            let c = crate::campaigns::repo::get(conn, ws, campaign, false).await?;
            if c.is_none_or(|c| c.kind != CampaignKind::Lottery) {
                return Ok(vec![]);
            }
            let l = super::service::ensure(conn, ws, campaign.0, at)
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("lottery seed: {e}")))?;
            let mut out = vec![("lottery.commitment", l.commitment.clone())];
            if l.status == "drawn" {
                let winners = repo::winners(conn, ws, campaign.0).await?;
                let text = winners
                    .iter()
                    .map(|(_, _, name, _, prize, _, _)| format!("{} {prize}", mask(name)))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(("lottery.winners", text));
            }
            Ok(out)
        })
    }
}
