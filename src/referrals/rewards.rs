//! An inviter's rewards: each `rewards[i]` of the campaign whose `at` the
//! inviter's qualified invites have reached is granted once — its row in
//! `referral_rewards` is the guard, and the points' source
//! (`invite:<campaign>:<inviter>:<i>`) would refuse a second credit too.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::repo;
use crate::campaigns::invite_settings::{ReferralReward, ReferralSettings};
use crate::campaigns::model::Campaign;
use crate::coupons::model::TemplateStatus;
use crate::events::reactions::Reactions;
use crate::ids::{MemberId, WorkspaceId};
use crate::points::model::{EntryKind, Source, SourceType};

/// Grants the rewards `count` qualified invites have reached and that were
/// not granted before.
pub async fn grant(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Campaign,
    inviter: MemberId,
    count: i64,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<()> {
    let settings = ReferralSettings::from_stored(&c.settings);
    for (i, reward) in settings.rewards.iter().enumerate() {
        if (reward.at as i64) > count {
            continue;
        }
        let key = (c.id.0, inviter.0);
        if !repo::take_reward(conn, ws, key, (i as i32, reward.at as i32), now).await? {
            continue;
        }
        let outcome = self::reward(conn, ws, c, inviter, (i, reward), now, reactions).await?;
        repo::reward_outcome(conn, ws, key, i as i32, &outcome).await?;
    }
    Ok(())
}

/// A gift to a member: points (credited once per `source`) or a coupon of
/// a template (issued like an operator's issue: its limits apply).
pub enum Gift<'a> {
    Points { points: i64, source: Source, note: &'a str },
    Coupon(Uuid),
}

/// Gives `gift` to `member`: what was given, or why not, for the record
/// (also the lottery's prizes).
pub async fn give(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    gift: Gift<'_>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<serde_json::Value> {
    let template = match gift {
        Gift::Points { points, source, note } => {
            let Some(policy) = crate::points::service::policy(conn, ws).await? else {
                return Ok(json!({"skipped": "no_workspace"}));
            };
            let credit =
                crate::points::service::Credit { member, points, kind: EntryKind::Earn, source, note, at: now };
            let entry = crate::points::service::credit(conn, ws, &policy, credit).await?;
            return Ok(json!({"points": points, "ledger_entry_id": entry.map(|e| e.id)}));
        }
        Gift::Coupon(template) => template,
    };
    let t = match crate::coupons::repo::get_template(conn, ws, template, false).await? {
        Some(t) if t.status == TemplateStatus::Active => t,
        Some(_) => return Ok(json!({"coupon_template_id": template, "skipped": "not_active"})),
        None => return Ok(json!({"coupon_template_id": template, "skipped": "not_found"})),
    };
    let (issued, skipped) =
        crate::coupons::service::issue(conn, ws, &t, &[member], Uuid::now_v7(), now, reactions).await?;
    Ok(json!({"coupon_template_id": template, "issued": issued, "skipped": skipped}))
}

/// The gift of reward `i` of campaign `c` to `inviter`.
async fn reward(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Campaign,
    inviter: MemberId,
    (i, reward): (usize, &ReferralReward),
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<serde_json::Value> {
    let note = format!("invite reward: {} qualified", reward.at);
    let gift = match (reward.points, reward.coupon_template_id) {
        (Some(points), _) => Gift::Points {
            points,
            source: Source::new(SourceType::Invite, format!("{}:{}:{i}", c.id.0, inviter.0)),
            note: &note,
        },
        (None, Some(t)) => Gift::Coupon(t),
        (None, None) => return Ok(json!({"skipped": "no_reward"})),
    };
    give(conn, ws, inviter, gift, now, reactions).await
}
