//! What the shop hears of the mall: `mall.redemption_created` (with the
//! member's phone and email for shipping, to endpoints with `include_pii`),
//! `mall.redemption_fulfilled` and `mall.redemption_cancelled`, emitted in
//! the changing transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::{MallItem, Redemption};
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::{spelled, MallRedemptionCancelled, MallRedemptionCreated, MallRedemptionFulfilled};
use crate::webhooks::outbox::{self, Outgoing};

/// Announces a new redemption.
pub async fn created(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    item: &MallItem,
    r: &Redemption,
) -> Result<(), sqlx::Error> {
    if outbox::subscribed(conn, ws, &[<MallRedemptionCreated as crate::webhooks::catalogue::Payload>::TYPE])
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let m = crate::members::repo::get(conn, ws, r.member_id).await?;
    let p = MallRedemptionCreated {
        redemption_id: r.id,
        item_id: item.id,
        item_name: item.name.clone(),
        item_kind: spelled(item.kind),
        member_id: r.member_id.0,
        display_name: m.as_ref().map(|m| m.display_name.clone()).unwrap_or_default(),
        quantity: r.quantity,
        points_spent: r.points_spent,
        status: spelled(r.status),
        created_at: r.created_at,
        phone: None,
        email: None,
    };
    let pii = serde_json::json!({"phone": m.as_ref().and_then(|m| m.phone.clone()), "email": m.as_ref().and_then(|m| m.email.clone())});
    outbox::emit(conn, ws, r.created_at, &[Outgoing::new(r.created_at, &p)?.with_pii(pii)]).await?;
    Ok(())
}

/// Announces a fulfilment.
pub async fn fulfilled(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Redemption,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = MallRedemptionFulfilled {
        redemption_id: r.id,
        item_id: r.item_id,
        member_id: r.member_id.0,
        tracking: r.tracking.clone(),
        fulfilled_at: r.fulfilled_at.unwrap_or(now),
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}

/// Announces a cancellation.
pub async fn cancelled(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Redemption,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = MallRedemptionCancelled {
        redemption_id: r.id,
        item_id: r.item_id,
        member_id: r.member_id.0,
        quantity: r.quantity,
        points_returned: r.points_spent,
        cancelled_at: r.cancelled_at.unwrap_or(now),
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}
