//! Lottery DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::campaigns::lottery_settings::Prize;
use crate::ids::MemberId;

/// Whether the lottery has been drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LotteryStatus {
    /// Taking entries until `draw_at`.
    Open,
    Drawn,
}

/// A lottery: its campaign, prizes and the commitment to its seed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lottery {
    /// The lottery's campaign (its id is the lottery's).
    pub id: Uuid,
    pub name: String,
    pub status: LotteryStatus,
    /// When the draw runs (null: no `draw_at` set yet).
    pub draw_at: Option<DateTime<Utc>>,
    /// `hex(sha256(seed))`, published before any entry; the seed is revealed by the draw.
    pub commitment: String,
    pub prizes: Vec<Prize>,
    pub one_prize_per_member: bool,
    /// Members who entered so far.
    pub entrants: i64,
    /// Entries so far (entrants' and qualified invites', capped per member).
    pub entries: i64,
    pub drawn_at: Option<DateTime<Utc>>,
    /// The draw ran more than a minute after `draw_at` (every instance was down).
    pub late: bool,
}

/// `POST /v1/lotteries/{id}/entries`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterLottery {
    pub member_id: MemberId,
}

/// A member's entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotteryEntries {
    pub lottery_id: Uuid,
    pub member_id: MemberId,
    /// Whether the member has entered.
    pub entered: bool,
    /// Qualified invites through the lottery's own invite codes.
    pub qualified_invites: i64,
    /// Entries the member holds now (capped at `max_per_member`).
    pub entries: i64,
}

/// A winning entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotteryWinner {
    pub member_id: Uuid,
    /// The prize's name.
    pub prize: String,
    /// Its position in `prizes` (0 for the first).
    pub prize_index: i32,
    pub entry_no: i32,
    /// Masked for announcements (张**).
    pub masked_name: String,
    /// What was delivered: points credited, the coupon issued, goods announced.
    pub delivered: serde_json::Value,
}

/// Prizes the draw could not give (fewer entries than prizes).
#[derive(Debug, Serialize, ToSchema)]
pub struct Unawarded {
    pub prize_index: i32,
    pub prize: String,
    pub quantity: i64,
}

/// A drawn lottery: everything needed to recompute the winners.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotteryDraw {
    pub lottery_id: Uuid,
    /// `open` until the draw: then no seed, list or winners yet.
    pub status: LotteryStatus,
    pub commitment: String,
    /// The seed, hex (sha256 of its bytes is the commitment); null until the draw.
    pub seed: Option<String>,
    /// `hex(sha256(the canonical entry list))`.
    pub entries_digest: Option<String>,
    /// The canonical entry list (`text/plain`, one `<member_id>:<entry_no>` a line).
    pub entries_url: Option<String>,
    pub entry_count: i64,
    pub entrant_count: i64,
    pub draw_at: Option<DateTime<Utc>>,
    pub drawn_at: Option<DateTime<Utc>>,
    pub late: bool,
    pub one_prize_per_member: bool,
    pub winners: Vec<LotteryWinner>,
    pub unawarded: Vec<Unawarded>,
}

/// Masks a name for a public announcement: its first character, then `**`.
pub fn mask(name: &str) -> String {
    match name.chars().next() {
        Some(c) => format!("{c}**"),
        None => "**".into(),
    }
}
