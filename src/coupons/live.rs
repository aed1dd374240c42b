//! `{{coupon.name}}`, `{{coupon.claim_link}}` and `{{coupon.remaining}}`
//! of a campaign's posts: its newest template giving coupons, read when the post
//! is rendered. `remaining` is left out without a total (a template's
//! fallback shows: `{{coupon.remaining|不限量}}`); the claim link is the
//! template's `claim_url`, else the campaign's link.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::repo;
use crate::contents::live::LiveSource;
use crate::ids::{CampaignId, WorkspaceId};

/// The coupon engine's live variables.
#[derive(Debug, Clone, Copy)]
pub struct Coupons;

impl LiveSource for Coupons {
    fn values<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        _tz: chrono_tz::Tz,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(&'static str, String)>, sqlx::Error>> {
        Box::pin(async move {
            let t = repo::campaign_template(conn, ws, campaign).await?;
            let Some(t) = t.filter(|t| super::service::is_open(t, at)) else { return Ok(vec![]) };
            let mut out = vec![("coupon.name", t.name)];
            let link = match t.claim_url {
                Some(u) => Some(u),
                None => crate::contents::repo::campaign_vars(conn, ws, campaign).await?.and_then(|c| c.link),
            };
            out.extend(link.map(|l| ("coupon.claim_link", l)));
            out.extend(t.remaining.map(|r| ("coupon.remaining", r.to_string())));
            Ok(out)
        })
    }
}
