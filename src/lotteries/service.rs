//! Lotteries: the commitment made before the first entry, entries, and the
//! draw — once per lottery whatever the number of instances (its row is
//! locked and its status checked in the draw's transaction), with the
//! prizes delivered in that same transaction.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::draw;
use super::repo::{self, NewWinner, Row, Rule};
use crate::campaigns::lottery_settings::{LotteryEligible, LotterySettings, Prize};
use crate::events::reactions::Reactions;
use crate::ids::{MemberId, WorkspaceId};
use crate::points::model::{Source, SourceType};

/// A lottery's row, made with a fresh 256-bit seed unless it exists.
pub async fn ensure(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<Row> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(repo::ensure(conn, ws, campaign, &seed, &draw::commitment(&seed), now).await?)
}

/// The draw's instant: the settings' local time in the workspace's zone
/// (a time skipped by a clock change: the first instant after it).
pub fn draw_at(s: &LotterySettings, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let local = s.draw_local()?;
    use chrono::offset::LocalResult;
    match local.and_local_timezone(tz) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => (1..=180).find_map(|m| {
            (local + Duration::minutes(m)).and_local_timezone(tz).earliest().map(|t| t.with_timezone(&Utc))
        }),
    }
}

/// The entry rule's numbers.
pub fn rule(s: &LotterySettings) -> Rule {
    let e = s.entries;
    (e.per_member as i32, e.per_qualified_invite as i32, e.max_per_member as i32)
}

/// Whether `member` may enter (the coupon engine's eligibility rule, which
/// reads the same groups, layer or tier).
pub async fn eligible(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rule: Option<&LotteryEligible>,
    member: MemberId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let rule = rule.map(|r| crate::coupons::model::Eligibility {
        group_ids: r.group_ids.clone(),
        layer_id: r.layer_id,
        tier: r.tier.clone(),
        joined_within_days: None,
    });
    crate::coupons::service::eligible(conn, ws, rule.as_ref(), member, now).await
}

/// Draws every lottery whose time has come; how many were drawn.
pub async fn run_due(pool: &PgPool, now: DateTime<Utc>, reactions: &Reactions) -> anyhow::Result<usize> {
    run_due_in(pool, None, now, reactions).await
}

/// [`run_due`] for one workspace (or all).
pub async fn run_due_in(
    pool: &PgPool,
    only: Option<WorkspaceId>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<usize> {
    let mut conn = pool.acquire().await?;
    let candidates = repo::undrawn(&mut conn, only).await?;
    drop(conn);
    let mut drawn = 0;
    for (ws, campaign, settings, tz) in candidates {
        let s = LotterySettings::from_stored(&settings);
        let Some(at) = draw_at(&s, crate::clock::zone(&tz)) else { continue };
        if at > now || s.prizes.is_empty() {
            continue;
        }
        let mut tx = crate::db::begin(pool).await?;
        ensure(&mut tx, ws, campaign, now).await?;
        // The lock makes a second instance wait here, then see it drawn.
        let Some(l) = repo::get(&mut tx, ws, campaign, true).await? else { continue };
        if l.status != "open" {
            continue;
        }
        run_draw(&mut tx, ws, &l, &s, at, now, reactions).await?;
        tx.commit().await?;
        drawn += 1;
    }
    Ok(drawn)
}

/// Freezes the entries, picks the winners, delivers the prizes and marks
/// the lottery drawn.
async fn run_draw(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    l: &Row,
    s: &LotterySettings,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<()> {
    let frozen = repo::freeze(conn, ws, l.campaign_id, rule(s)).await?;
    let counts: Vec<(Uuid, u32)> = frozen.iter().map(|(m, n)| (*m, *n as u32)).collect();
    let quantities: Vec<u32> = s.prizes.iter().map(|p| p.quantity).collect();
    let wins = draw::winners(&l.seed, &counts, &quantities, s.one_prize_per_member);
    let mut announced = Vec::with_capacity(wins.len());
    for (rank, w) in wins.iter().enumerate() {
        let Some(prize) = s.prizes.get(w.prize) else { continue };
        let outcome = deliver(conn, ws, l.campaign_id, (rank, prize), MemberId(w.member), now, reactions).await?;
        let winner = NewWinner {
            rank: rank as i32,
            member: w.member,
            prize_index: w.prize as i32,
            prize_name: &prize.name,
            entry_no: w.entry_no as i32,
            outcome,
        };
        repo::insert_winner(conn, ws, l.campaign_id, &winner).await?;
        let reward = serde_json::to_value(&prize.reward)?;
        announced.push(super::outbound::won(
            l.campaign_id,
            w.member,
            (w.prize as i32, &prize.name),
            w.entry_no as i32,
            &reward,
            now,
        ));
    }
    super::outbound::prizes_won(conn, ws, &announced, now).await?;
    let entries: i64 = counts.iter().map(|c| c.1 as i64).sum();
    let late = now - at > Duration::minutes(1);
    let digest = draw::digest(&counts);
    repo::mark_drawn(conn, ws, l.campaign_id, at, now, late, &digest, (entries, counts.len() as i64)).await?;
    Ok(())
}

/// Delivers one prize (in the draw's transaction: once): points and
/// coupons as the referral rewards are given; goods are the shop's.
async fn deliver(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    (rank, prize): (usize, &Prize),
    member: MemberId,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<serde_json::Value> {
    use crate::referrals::rewards::{give, Gift};
    let r = &prize.reward;
    let note = format!("lottery prize: {}", prize.name);
    let gift = match (r.points, r.coupon_template_id) {
        (Some(points), _) => {
            Gift::Points { points, source: Source::new(SourceType::Lottery, format!("{campaign}:{rank}")), note: &note }
        }
        (None, Some(t)) => Gift::Coupon(t),
        (None, None) => return Ok(serde_json::json!({"goods": r.goods, "via": "lottery.prize_won"})),
    };
    give(conn, ws, member, gift, now, reactions).await
}
