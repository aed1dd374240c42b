//! What the shop hears of draws: `lottery.prize_won` for each winner, in
//! the draw's transaction (goods are sent by the shop on it).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::LotteryPrizeWon;
use crate::webhooks::outbox::{self, Outgoing};

/// Announces the winners.
pub async fn prizes_won(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    won: &[LotteryPrizeWon],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let out: Vec<Outgoing> = won.iter().map(|p| Outgoing::new(now, p)).collect::<Result<_, _>>()?;
    outbox::emit(conn, ws, now, &out).await?;
    Ok(())
}

/// A winner's payload.
pub fn won(
    campaign: Uuid,
    member: Uuid,
    (index, name): (i32, &str),
    entry_no: i32,
    reward: &serde_json::Value,
    now: DateTime<Utc>,
) -> LotteryPrizeWon {
    LotteryPrizeWon {
        lottery_id: campaign,
        member_id: member,
        prize_index: index,
        prize: name.to_owned(),
        entry_no,
        reward: reward.clone(),
        drawn_at: now,
    }
}
