//! Live values of a campaign's posts: `{{coupon.*}}` and `{{flash_sale.*}}`
//! are read from the campaign engines when a message is rendered (an SOP
//! slot claimed, a preview), so the 10:00 post shows the stock left at
//! 10:00. The engines sit above this module (and above `sop`), so they
//! provide the values through [`LiveSource`]; `startup` hands the list to
//! the application state, which gives it to the scheduler and the preview.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::template::Context;
use crate::ids::{CampaignId, WorkspaceId};

/// One engine's live variables.
pub trait LiveSource: Send + Sync + 'static {
    /// The values of its variables for `campaign` at `at`, for a group in
    /// `tz` (a variable it has no value for is left out: the template's
    /// fallback shows).
    fn values<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        tz: chrono_tz::Tz,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(&'static str, String)>, sqlx::Error>>;
}

/// Every engine's live variables (cheap to clone).
#[derive(Clone, Default)]
pub struct LiveVars(Arc<[Arc<dyn LiveSource>]>);

impl std::fmt::Debug for LiveVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LiveVars").field(&self.0.len()).finish()
    }
}

impl LiveVars {
    /// The sources, asked in order.
    pub fn new(list: Vec<Arc<dyn LiveSource>>) -> Self {
        Self(list.into())
    }

    /// Every source's values for `campaign` at `at` in `tz`.
    pub async fn values(
        &self,
        conn: &mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        tz: chrono_tz::Tz,
        at: DateTime<Utc>,
    ) -> Result<Vec<(&'static str, String)>, sqlx::Error> {
        let mut out = Vec::new();
        for s in self.0.iter() {
            out.extend(s.values(conn, ws, campaign, tz, at).await?);
        }
        Ok(out)
    }

    /// Fills `ctx.live`.
    pub async fn fill(
        &self,
        conn: &mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        tz: chrono_tz::Tz,
        at: DateTime<Utc>,
        ctx: &mut Context,
    ) -> Result<(), sqlx::Error> {
        ctx.live = self.values(conn, ws, campaign, tz, at).await?;
        Ok(())
    }
}
