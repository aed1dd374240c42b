//! `{{flash_sale.link}}`, `{{flash_sale.starts_at}}` and
//! `{{flash_sale.remaining}}` of a campaign's posts: its newest active sale,
//! read when the post is rendered, so the warm-up at 09:30 and the 10:00
//! post show the run's stock as it stands. The run is the one on at that
//! moment, else the next, placed in the group's timezone; `starts_at` is
//! its local `HH:MM` on the same local day, else `MM-DD HH:MM`; `remaining`
//! is the units available over its items. A sale with no run left shows
//! only its link.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::model::{SaleStatus, When};
use super::repo;
use crate::contents::live::LiveSource;
use crate::ids::{CampaignId, WorkspaceId};

/// The flash-sale engine's live variables.
#[derive(Debug, Clone, Copy)]
pub struct FlashSales;

impl LiveSource for FlashSales {
    fn values<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        campaign: CampaignId,
        tz: chrono_tz::Tz,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(&'static str, String)>, sqlx::Error>> {
        Box::pin(async move {
            let sales = repo::list_sales(conn, ws, Some(campaign), None, 20).await?;
            let Some(s) = sales.into_iter().find(|s| s.status == SaleStatus::Active) else { return Ok(vec![]) };
            let mut out = Vec::new();
            let link = match s.link.clone() {
                Some(l) => Some(l),
                None => crate::contents::repo::campaign_vars(conn, ws, campaign).await?.and_then(|c| c.link),
            };
            out.extend(link.map(|l| ("flash_sale.link", l)));
            let tz = if matches!(s.schedule.0, super::model::Schedule::Once { .. }) { chrono_tz::UTC } else { tz };
            let run = match s.schedule.0.when(tz, at) {
                When::Now(o) | When::Next(o) => o,
                When::Over => return Ok(out),
            };
            out.push(("flash_sale.starts_at", local_start(run.starts_at, at, tz)));
            let items = repo::items(conn, ws, s.id).await?;
            let stock = repo::run_stock(conn, ws, s.id, run.starts_at).await?;
            let left: i64 = items
                .iter()
                .map(|i| match stock.iter().find(|r| r.0 == i.product_id) {
                    Some(r) => (r.1 - r.2 - r.3) as i64,
                    None => i.stock as i64,
                })
                .sum();
            out.push(("flash_sale.remaining", left.to_string()));
            Ok(out)
        })
    }
}

/// `HH:MM` when the run starts on `at`'s local day, else `MM-DD HH:MM`.
fn local_start(starts_at: DateTime<Utc>, at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let (s, a) = (starts_at.with_timezone(&tz), at.with_timezone(&tz));
    if s.date_naive() == a.date_naive() {
        s.format("%H:%M").to_string()
    } else {
        s.format("%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_start_reads_in_local_time_with_the_date_only_on_another_day() {
        let sh = chrono_tz::Asia::Shanghai;
        // 10:00 in Shanghai is 02:00 UTC; at 09:30 local it is today's slot.
        assert_eq!(local_start(utc("2026-12-08T02:00:00Z"), utc("2026-12-08T01:30:00Z"), sh), "10:00");
        // At 23:00 local on the 7th (15:00 UTC) the next slot is tomorrow's.
        assert_eq!(local_start(utc("2026-12-08T02:00:00Z"), utc("2026-12-07T15:00:00Z"), sh), "12-08 10:00");
    }
}
