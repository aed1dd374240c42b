//! Payments confirm reservations: a newly stored `order_paid` carrying
//! `reservation_id` (a property) confirms that reservation on the order if
//! it still holds its units. A redelivered payment is not newly stored, so
//! it changes nothing.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::model::ReservationStatus;
use super::{repo, service};
use crate::events::model::EventKind;
use crate::events::reactions::Reaction;
use crate::events::repo::Row;
use crate::ids::WorkspaceId;

/// The subscriber.
pub struct PaidReservations;

impl Reaction for PaidReservations {
    fn name(&self) -> &'static str {
        "paid_reservations"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for r in events.iter().filter(|r| r.kind == EventKind::OrderPaid.as_str()) {
                let (Some(order), Some(id)) = (
                    r.order_id.as_deref(),
                    r.properties.get("reservation_id").and_then(|v| v.as_str()).and_then(|v| v.parse().ok()),
                ) else {
                    continue;
                };
                let Some(res) = repo::get_reservation(conn, ws, id, true).await? else { continue };
                if res.status == ReservationStatus::Reserved {
                    service::confirm(conn, ws, &res, order, stored_at).await?;
                }
            }
            Ok(())
        })
    }
}
