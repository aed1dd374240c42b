//! What the operator's endpoints hear of members: `member.tier_changed`,
//! emitted in the transaction that changes the tier. Phone and email go in
//! the message's personal part (only endpoints with `include_pii` get them).

use sqlx::PgConnection;

use super::model::Member;
use super::repo::NewTierChange;
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::MemberTierChanged;
use crate::webhooks::outbox::{self, Outgoing};

/// Emits `member.tier_changed` for `m` (its identity and contact; the tiers
/// and reason are the change's).
pub async fn tier_changed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    m: &Member,
    c: &NewTierChange<'_>,
) -> Result<(), sqlx::Error> {
    let p = MemberTierChanged {
        member_id: m.id.0,
        display_name: m.display_name.clone(),
        from_tier: c.from.map(str::to_owned),
        to_tier: c.to.map(str::to_owned),
        reason: c.reason.to_owned(),
        changed_at: c.at,
        phone: None,
        email: None,
    };
    let msg = Outgoing::new(c.at, &p)?.with_pii(serde_json::json!({"phone": m.phone, "email": m.email}));
    outbox::emit(conn, ws, c.at, &[msg]).await?;
    Ok(())
}
