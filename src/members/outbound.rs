//! What the operator's endpoints hear of members: `member.tier_changed`,
//! emitted in the transaction that changes the tier. Phone and email go in
//! the message's personal part (only endpoints with `include_pii` get them).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::Member;
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::MemberTierChanged;
use crate::webhooks::outbox::{self, Outgoing};

/// Emits `member.tier_changed` for `m` (as it is after the change).
pub async fn tier_changed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    m: &Member,
    (from, reason): (Option<&str>, &str),
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = MemberTierChanged {
        member_id: m.id.0,
        display_name: m.display_name.clone(),
        from_tier: from.map(str::to_owned),
        to_tier: m.tier.clone(),
        reason: reason.to_owned(),
        changed_at: at,
        phone: None,
        email: None,
    };
    let msg = Outgoing::new(at, &p)?.with_pii(serde_json::json!({"phone": m.phone, "email": m.email}));
    outbox::emit(conn, ws, at, &[msg]).await?;
    Ok(())
}
