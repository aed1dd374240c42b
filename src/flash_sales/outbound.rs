//! What the shop hears of flash sales: `flash_sale.sold_out` when a run's
//! last unit is reserved, `flash_sale.reservation_expired` when an unpaid
//! reservation gives its units back; emitted in the changing transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::{Occurrence, Reservation, SaleItem};
use super::repo::SaleRow;
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::{FlashSaleReservationExpired, FlashSaleSoldOut};
use crate::webhooks::outbox::{self, Outgoing};

/// Announces a sold-out run of an item.
pub async fn sold_out(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: &SaleRow,
    item: &SaleItem,
    run: Occurrence,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = FlashSaleSoldOut {
        sale_id: s.id,
        campaign_id: s.campaign_id,
        product_id: item.product_id.clone(),
        starts_at: run.starts_at,
        ends_at: run.ends_at,
        stock: item.stock,
        sold_out_at: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}

/// Announces an expired reservation.
pub async fn reservation_expired(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Reservation,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = FlashSaleReservationExpired {
        reservation_id: r.id,
        sale_id: r.sale_id,
        product_id: r.product_id.clone(),
        member_id: r.member_id.0,
        quantity: r.quantity,
        starts_at: r.starts_at,
        expired_at: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}
