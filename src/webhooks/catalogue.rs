//! The catalogue of outbound message types: each is a payload type (the
//! `data` of its messages, with its schema in the OpenAPI `webhooks`
//! section) and one line in [`ALL`]. Payloads carry ids and what a receiver
//! needs to act without a second call; personal data (phone, email) goes in
//! a message's `pii` part, sent only to endpoints with `include_pii`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;
use uuid::Uuid;

/// A payload type of the catalogue.
pub trait Payload: Serialize + ToSchema {
    /// The message type, e.g. `member.joined_group`.
    const TYPE: &'static str;
    /// When it is sent.
    const SUMMARY: &'static str;
}

/// One entry of the catalogue.
#[derive(Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub summary: &'static str,
    /// The payload's schema name and schema.
    pub schema: fn() -> (String, RefOr<Schema>),
}

const fn entry<P: Payload>() -> Entry {
    Entry { name: P::TYPE, summary: P::SUMMARY, schema: schema_of::<P> }
}

fn schema_of<P: Payload>() -> (String, RefOr<Schema>) {
    (P::name().into_owned(), P::schema())
}

/// Every message type Shequn sends. Adding one: its payload type below
/// (or in its feature) and one line here.
pub const ALL: &[Entry] = &[
    entry::<MemberJoinedGroup>(),
    entry::<MemberLeftGroup>(),
    entry::<MemberTierChanged>(),
    entry::<GroupCreated>(),
    entry::<GroupStatusChanged>(),
    entry::<GroupHealthChanged>(),
    entry::<DeliveryDead>(),
    entry::<DeliveryAwaitingConfirmation>(),
    entry::<ConnectionFailing>(),
    entry::<WebhookTest>(),
    entry::<EndpointDisabled>(),
    entry::<PointsEarned>(),
    entry::<PointsSpent>(),
    entry::<PointsExpired>(),
    entry::<MallRedemptionCreated>(),
    entry::<MallRedemptionFulfilled>(),
    entry::<MallRedemptionCancelled>(),
    entry::<FlashSaleSoldOut>(),
    entry::<ChannelFull>(),
    entry::<FlashSaleReservationExpired>(),
    entry::<ReferralQualified>(),
    entry::<ReferralRevoked>(),
    entry::<ReferralFlagged>(),
    entry::<LotteryPrizeWon>(),
    entry::<GroupBuySucceeded>(),
    entry::<GroupBuyFailed>(),
    entry::<BargainCompleted>(),
    entry::<BargainPurchased>(),
];

/// How a payload spells an enum of the API (its JSON string: `fulfilled`,
/// `earn`, `dead`); empty for a value that is not a string.
pub fn spelled<T: Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The catalogue entry of a type name.
pub fn find(name: &str) -> Option<&'static Entry> {
    ALL.iter().find(|e| e.name == name)
}

/// A member joined a group (from a stored `member_joined` event).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberJoinedGroup {
    /// The stored event.
    pub event_id: Uuid,
    pub member_id: Uuid,
    pub group_id: Uuid,
    pub group_name: String,
    /// Where the event came from: `api`, `import`, `webhook`.
    pub source: String,
    /// When it happened (the event's `occurred_at`).
    pub occurred_at: DateTime<Utc>,
    /// The member who invited them, when known.
    pub inviter_member_id: Option<Uuid>,
    /// The entry channel, when known (e.g. a QR code or link).
    pub channel: Option<String>,
}

impl Payload for MemberJoinedGroup {
    const TYPE: &'static str = "member.joined_group";
    const SUMMARY: &'static str = "A member joined a group.";
}

/// A member left (or was removed from) a group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberLeftGroup {
    pub event_id: Uuid,
    pub member_id: Uuid,
    pub group_id: Uuid,
    pub group_name: String,
    pub source: String,
    pub occurred_at: DateTime<Utc>,
    /// Why, when the platform says (e.g. `left`, `removed`).
    pub reason: Option<String>,
}

impl Payload for MemberLeftGroup {
    const TYPE: &'static str = "member.left_group";
    const SUMMARY: &'static str = "A member left or was removed from a group.";
}

/// A member's value tier changed (e.g. became VIP).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberTierChanged {
    pub member_id: Uuid,
    pub display_name: String,
    pub from_tier: Option<String>,
    pub to_tier: Option<String>,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
    /// Only for endpoints with `include_pii`.
    pub phone: Option<String>,
    /// Only for endpoints with `include_pii`.
    pub email: Option<String>,
}

impl Payload for MemberTierChanged {
    const TYPE: &'static str = "member.tier_changed";
    const SUMMARY: &'static str = "A member's value tier changed (e.g. to VIP).";
}

/// A group became known: created through the API or first seen on a platform.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupCreated {
    pub group_id: Uuid,
    pub name: String,
    pub platform: String,
    pub external_id: String,
    /// `api` or `platform` (first seen in an event or a callback).
    pub source: String,
    pub created_at: DateTime<Utc>,
}

impl Payload for GroupCreated {
    const TYPE: &'static str = "group.created";
    const SUMMARY: &'static str = "A group was created or first seen.";
}

/// A group's lifecycle status changed (`active`, `dismissed`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupStatusChanged {
    pub group_id: Uuid,
    pub name: String,
    pub from: String,
    pub to: String,
    pub changed_at: DateTime<Utc>,
}

impl Payload for GroupStatusChanged {
    const TYPE: &'static str = "group.status_changed";
    const SUMMARY: &'static str = "A group was dismissed or became active again.";
}

/// A group's health status changed (`healthy`, `declining`, `dead`), by
/// the default health rules over the trailing window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupHealthChanged {
    pub group_id: Uuid,
    pub name: String,
    /// Null the first time a group is judged.
    pub from: Option<String>,
    pub to: String,
    /// 0-100.
    pub score: i64,
    /// Why it is not healthy.
    pub reasons: Vec<String>,
    /// The last local day of the window judged.
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
}

impl Payload for GroupHealthChanged {
    const TYPE: &'static str = "group.health_changed";
    const SUMMARY: &'static str = "A group became healthy, declining or dead.";
}

/// An SOP send exhausted its attempts (or was rejected for good).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryDead {
    pub delivery_id: Uuid,
    /// The SOP plan and step (null for a reply to a chat check-in).
    pub plan_id: Option<Uuid>,
    pub step_id: Option<Uuid>,
    pub group_id: Uuid,
    pub channel: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub slot_at: DateTime<Utc>,
}

impl Payload for DeliveryDead {
    const TYPE: &'static str = "delivery.dead";
    const SUMMARY: &'static str = "An SOP send failed for good.";
}

/// An SOP mass send was handed to the group owner, who must confirm it in the app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryAwaitingConfirmation {
    pub delivery_id: Uuid,
    /// The SOP plan and step (null for a reply to a chat check-in).
    pub plan_id: Option<Uuid>,
    pub step_id: Option<Uuid>,
    pub group_id: Uuid,
    pub channel: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub slot_at: DateTime<Utc>,
}

impl Payload for DeliveryAwaitingConfirmation {
    const TYPE: &'static str = "delivery.awaiting_confirmation";
    const SUMMARY: &'static str = "An SOP mass send awaits the owner's confirmation in the app.";
}

/// Sends through a platform connection keep failing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionFailing {
    pub connection_id: Uuid,
    pub platform: String,
    pub name: String,
    /// Failed send attempts in a row through it.
    pub consecutive_failures: i32,
    pub last_error: Option<String>,
    pub failing_since: DateTime<Utc>,
}

impl Payload for ConnectionFailing {
    const TYPE: &'static str = "connection.failing";
    const SUMMARY: &'static str = "Sends through a platform connection keep failing.";
}

/// A test message, sent on request to one endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookTest {
    pub endpoint_id: Uuid,
    pub message: String,
}

impl Payload for WebhookTest {
    const TYPE: &'static str = "webhook.test";
    const SUMMARY: &'static str = "A test message (POST /v1/webhook-endpoints/{id}/test).";
}

/// An endpoint was disabled after failing for the configured period; sent to the other endpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointDisabled {
    pub endpoint_id: Uuid,
    pub url: String,
    pub reason: String,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_at: DateTime<Utc>,
}

impl Payload for EndpointDisabled {
    const TYPE: &'static str = "endpoint.disabled";
    const SUMMARY: &'static str = "An endpoint was disabled after failing for days.";
}

/// Points were credited to a member (an `earn` or positive `adjust` entry).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsEarned {
    pub member_id: Uuid,
    pub entry_id: Uuid,
    /// `earn` or `adjust`.
    pub kind: String,
    pub points: i64,
    pub balance: i64,
    /// What earned them: `check_in`, `streak_bonus`, `order`, `manual`, …
    pub source_type: String,
    pub source_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub occurred_at: DateTime<Utc>,
}

impl Payload for PointsEarned {
    const TYPE: &'static str = "points.earned";
    const SUMMARY: &'static str = "A member earned points (or an operator added some).";
}

/// Points were taken from a member (`spend`, `clawback` or negative `adjust`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsSpent {
    pub member_id: Uuid,
    pub entry_id: Uuid,
    /// `spend`, `clawback` or `adjust`.
    pub kind: String,
    /// Points taken (positive).
    pub points: i64,
    pub balance: i64,
    pub source_type: String,
    pub source_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl Payload for PointsSpent {
    const TYPE: &'static str = "points.spent";
    const SUMMARY: &'static str = "Points were taken from a member (spent, clawed back or adjusted down).";
}

/// A member's points expired (one message per member and expiry run).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsExpired {
    pub member_id: Uuid,
    /// Points expired (positive).
    pub points: i64,
    /// How many lots they came from.
    pub lots: usize,
    pub balance: i64,
    /// The latest expiry among the lots.
    pub expired_at: DateTime<Utc>,
}

impl Payload for PointsExpired {
    const TYPE: &'static str = "points.expired";
    const SUMMARY: &'static str = "Some of a member's points expired.";
}

/// A member redeemed a points-mall item (ship `goods` when `pending_fulfilment`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MallRedemptionCreated {
    pub redemption_id: Uuid,
    pub item_id: Uuid,
    pub item_name: String,
    /// `goods` or `custom`.
    pub item_kind: String,
    pub member_id: Uuid,
    pub display_name: String,
    pub quantity: i32,
    pub points_spent: i64,
    /// `pending_fulfilment` or `fulfilled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Only for endpoints with `include_pii` (for shipping).
    pub phone: Option<String>,
    /// Only for endpoints with `include_pii`.
    pub email: Option<String>,
}

impl Payload for MallRedemptionCreated {
    const TYPE: &'static str = "mall.redemption_created";
    const SUMMARY: &'static str = "A member redeemed a points-mall item.";
}

/// A redemption was marked fulfilled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MallRedemptionFulfilled {
    pub redemption_id: Uuid,
    pub item_id: Uuid,
    pub member_id: Uuid,
    pub tracking: Option<String>,
    pub fulfilled_at: DateTime<Utc>,
}

impl Payload for MallRedemptionFulfilled {
    const TYPE: &'static str = "mall.redemption_fulfilled";
    const SUMMARY: &'static str = "A points-mall redemption was fulfilled.";
}

/// A redemption was cancelled: its stock and points are back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MallRedemptionCancelled {
    pub redemption_id: Uuid,
    pub item_id: Uuid,
    pub member_id: Uuid,
    pub quantity: i32,
    pub points_returned: i64,
    pub cancelled_at: DateTime<Utc>,
}

impl Payload for MallRedemptionCancelled {
    const TYPE: &'static str = "mall.redemption_cancelled";
    const SUMMARY: &'static str = "A points-mall redemption was cancelled (stock and points restored).";
}

/// The last unit of a flash-sale item's run was reserved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlashSaleSoldOut {
    pub sale_id: Uuid,
    pub campaign_id: Uuid,
    pub product_id: String,
    /// The run: when it started and ends.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub stock: i32,
    pub sold_out_at: DateTime<Utc>,
}

impl Payload for FlashSaleSoldOut {
    const TYPE: &'static str = "flash_sale.sold_out";
    const SUMMARY: &'static str = "Every unit of a flash-sale item's run is reserved or sold.";
}

/// A channel entry link found every one of its groups full (or closed):
/// visitors see the "groups are full" page until a group has room again.
/// Once per spell.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelFull {
    pub channel_id: Uuid,
    pub name: String,
    pub code: String,
    pub capacity_per_group: i32,
    /// The groups it routes to.
    pub group_ids: Vec<Uuid>,
    pub full_since: DateTime<Utc>,
}

impl Payload for ChannelFull {
    const TYPE: &'static str = "channel.full";
    const SUMMARY: &'static str =
        "Every group of a channel entry link is full or closed: add a group or raise the capacity.";
}

/// An unpaid reservation expired: its units are back on sale.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlashSaleReservationExpired {
    pub reservation_id: Uuid,
    pub sale_id: Uuid,
    pub product_id: String,
    pub member_id: Uuid,
    pub quantity: i32,
    pub starts_at: DateTime<Utc>,
    pub expired_at: DateTime<Utc>,
}

impl Payload for FlashSaleReservationExpired {
    const TYPE: &'static str = "flash_sale.reservation_expired";
    const SUMMARY: &'static str = "An unpaid flash-sale reservation expired and its units went back.";
}

/// An invite qualified: the invitee stayed through the hold period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralQualified {
    pub referral_id: Uuid,
    pub campaign_id: Uuid,
    pub inviter_member_id: Uuid,
    pub invitee_member_id: Uuid,
    pub group_id: Option<Uuid>,
    pub joined_at: DateTime<Utc>,
    pub qualified_at: DateTime<Utc>,
    /// The inviter's qualified invites in the campaign, this one included.
    pub qualified_invites: i64,
}

impl Payload for ReferralQualified {
    const TYPE: &'static str = "referral.qualified";
    const SUMMARY: &'static str = "An invited member stayed through the hold period: the invite counts.";
}

/// An invite was revoked: the invitee left within the hold period (or the
/// campaign was cancelled).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralRevoked {
    pub referral_id: Uuid,
    pub campaign_id: Uuid,
    pub inviter_member_id: Uuid,
    pub invitee_member_id: Uuid,
    /// `left_within_hold` or `campaign_cancelled`.
    pub reason: String,
    pub revoked_at: DateTime<Utc>,
}

impl Payload for ReferralRevoked {
    const TYPE: &'static str = "referral.revoked";
    const SUMMARY: &'static str = "An invite did not count: the invited member left within the hold period.";
}

/// An invite is over the inviter's daily cap and waits for an operator's
/// approval or rejection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralFlagged {
    pub referral_id: Uuid,
    pub campaign_id: Uuid,
    pub inviter_member_id: Uuid,
    pub invitee_member_id: Uuid,
    /// `over_daily_cap`.
    pub reason: String,
    pub flagged_at: DateTime<Utc>,
}

impl Payload for ReferralFlagged {
    const TYPE: &'static str = "referral.flagged";
    const SUMMARY: &'static str = "An invite is over the inviter's daily cap and waits for an operator.";
}

/// A member won a lottery prize (one per winner). For goods the shop
/// sends them; points and coupons are already delivered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LotteryPrizeWon {
    /// The lottery's campaign.
    pub lottery_id: Uuid,
    pub member_id: Uuid,
    /// The prize's position in the lottery's `prizes` (0 for the first).
    pub prize_index: i32,
    pub prize: String,
    pub entry_no: i32,
    /// The prize's reward: `{"goods"}`, `{"points"}` or `{"coupon_template_id"}`.
    pub reward: serde_json::Value,
    pub drawn_at: DateTime<Utc>,
}

impl Payload for LotteryPrizeWon {
    const TYPE: &'static str = "lottery.prize_won";
    const SUMMARY: &'static str = "A member won a lottery prize: send the goods (points and coupons are delivered).";
}

/// Adds the catalogue to an OpenAPI 3.1 document: each payload schema in
/// `components`, and one `webhooks` entry per type describing the request
/// a receiver gets (its headers and body).
pub fn describe(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let header = |name: &str, description: &str| {
        serde_json::json!({"name": name, "in": "header", "required": true, "description": description,
            "schema": {"type": "string"}})
    };
    let mut hooks = serde_json::Map::new();
    for e in ALL {
        let (schema_name, schema) = (e.schema)();
        components.schemas.insert(schema_name.clone(), schema);
        let body = serde_json::json!({
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": e.name},
                "timestamp": {"type": "string", "format": "date-time", "description": "When the change happened."},
                "data": {"$ref": format!("#/components/schemas/{schema_name}")},
            },
        });
        let op = serde_json::json!({
            "post": {
                "operationId": format!("webhook_{}", e.name.replace('.', "_")),
                "summary": e.summary,
                "tags": ["webhook-endpoints"],
                "parameters": [
                    header("webhook-id", "The message id (msg_…); the same on every attempt: dedupe by it."),
                    header("webhook-timestamp", "Unix seconds when this attempt was signed."),
                    header("webhook-signature",
                        "Space-separated `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`, one per valid secret."),
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"2XX": {"description": "Received. Any 2xx within the timeout is a success."}},
            }
        });
        hooks.insert(e.name.to_owned(), op);
    }
    doc.extensions.get_or_insert_with(Default::default).insert("webhooks".into(), serde_json::Value::Object(hooks));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_listed_once_with_a_named_schema() {
        let mut names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for e in ALL {
            assert!(e.name.contains('.') && e.name != "*", "{}", e.name);
            assert!(!(e.schema)().0.is_empty());
        }
        assert!(find("member.joined_group").is_some());
        assert!(find("member.joined").is_none());
    }
}

/// A place in a group-buy team: the member and the order that paid for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamPlace {
    pub member_id: Uuid,
    pub order_id: String,
    /// 1 for the leader.
    pub position: i32,
}

/// A group-buy team filled: every member's order stands at the group price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupBuySucceeded {
    pub team_id: Uuid,
    pub group_buy_id: Uuid,
    pub campaign_id: Uuid,
    pub product_id: String,
    /// Minor units each member pays.
    pub group_price: i64,
    pub leader_member_id: Uuid,
    /// Every member's order id, the leader's first.
    pub order_ids: Vec<String>,
    #[schema(inline)]
    pub members: Vec<TeamPlace>,
    pub succeeded_at: DateTime<Utc>,
}

impl Payload for GroupBuySucceeded {
    const TYPE: &'static str = "group_buy.succeeded";
    const SUMMARY: &'static str = "A group-buy team filled: ship every member's order at the group price.";
}

/// A group-buy team failed: refund **every** order listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupBuyFailed {
    pub team_id: Uuid,
    pub group_buy_id: Uuid,
    pub campaign_id: Uuid,
    pub product_id: String,
    pub group_price: i64,
    pub leader_member_id: Uuid,
    /// `expired` or `campaign_cancelled`.
    pub reason: String,
    /// Every member's order id to refund, the leader's first.
    pub order_ids: Vec<String>,
    #[schema(inline)]
    pub members: Vec<TeamPlace>,
    pub failed_at: DateTime<Utc>,
}

impl Payload for GroupBuyFailed {
    const TYPE: &'static str = "group_buy.failed";
    const SUMMARY: &'static str = "A group-buy team did not fill in time: refund every order listed.";
}

/// A bargain session reached its floor price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BargainCompleted {
    pub session_id: Uuid,
    pub bargain_id: Uuid,
    pub campaign_id: Uuid,
    pub member_id: Uuid,
    pub product_id: String,
    /// The floor price, minor units.
    pub price: i64,
    pub helps: i32,
    pub completed_at: DateTime<Utc>,
}

impl Payload for BargainCompleted {
    const TYPE: &'static str = "bargain.completed";
    const SUMMARY: &'static str = "A bargain session's helpers cut its price to the floor.";
}

/// A member bought at their bargain session's price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BargainPurchased {
    pub session_id: Uuid,
    pub bargain_id: Uuid,
    pub campaign_id: Uuid,
    pub member_id: Uuid,
    pub product_id: String,
    pub order_id: String,
    /// What the member pays, minor units.
    pub price: i64,
    pub list_price: i64,
    pub helps: i32,
    pub purchased_at: DateTime<Utc>,
}

impl Payload for BargainPurchased {
    const TYPE: &'static str = "bargain.purchased";
    const SUMMARY: &'static str = "A member bought at their bargain session's price: charge that price.";
}
