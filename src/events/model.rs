//! Event DTOs, the event vocabulary, and per-item validation.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::{CampaignId, GroupId, MemberId};
use crate::platform::Platform;
use crate::validate::is_slug;

/// How a member arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum JoinSource {
    /// Scanned a group QR code.
    QrCode,
    /// Followed an invite link.
    InviteLink,
    /// Added directly by another member.
    DirectInvite,
    /// Offline: store, flyer, street promotion (地推).
    Offline,
    /// Bulk import.
    Import,
    /// Added through the API by an integration.
    Api,
    /// Found the group by search.
    Search,
    Other,
    Unknown,
}

/// A built-in event type. Events carry their type as text (`type`), which
/// is one of these or `custom.<name>`; code names a built-in type by this
/// enum, never by a string literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    MemberJoined,
    MemberLeft,
    MessageSent,
    CheckedIn,
    LinkClicked,
    CouponClaimed,
    CouponRedeemed,
    OrderPlaced,
    OrderPaid,
    OrderRefunded,
    MemberInvited,
}

impl EventKind {
    /// Every built-in type, in code order. A type's position is stored as
    /// its code in the funnel timelines (`metric_member_chunks`) and as a bit
    /// of `metric_member_days.types`: add new types at the end only
    /// (reordering needs a rebuild of every workspace's rollups), at most 31.
    pub const ALL: [EventKind; 11] = [
        Self::MemberJoined,
        Self::MemberLeft,
        Self::MessageSent,
        Self::CheckedIn,
        Self::LinkClicked,
        Self::CouponClaimed,
        Self::CouponRedeemed,
        Self::OrderPlaced,
        Self::OrderPaid,
        Self::OrderRefunded,
        Self::MemberInvited,
    ];

    /// The type as events carry it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MemberJoined => "member_joined",
            Self::MemberLeft => "member_left",
            Self::MessageSent => "message_sent",
            Self::CheckedIn => "checked_in",
            Self::LinkClicked => "link_clicked",
            Self::CouponClaimed => "coupon_claimed",
            Self::CouponRedeemed => "coupon_redeemed",
            Self::OrderPlaced => "order_placed",
            Self::OrderPaid => "order_paid",
            Self::OrderRefunded => "order_refunded",
            Self::MemberInvited => "member_invited",
        }
    }

    /// The built-in type of `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether `s` is this type.
    pub fn is(self, s: &str) -> bool {
        self.as_str() == s
    }

    /// Joins and leaves change who is in a group; they never count as activity.
    pub fn is_membership(self) -> bool {
        matches!(self, Self::MemberJoined | Self::MemberLeft)
    }
}

/// The built-in event types' texts, in code order (see [`EventKind::ALL`]).
pub const TYPES: [&str; 11] = {
    let mut out = [""; 11];
    let mut i = 0;
    while i < EventKind::ALL.len() {
        out[i] = EventKind::ALL[i].as_str();
        i += 1;
    }
    out
};

/// Types that count as activity by default (joins and leaves do not).
pub const DEFAULT_ACTIVE_TYPES: [&str; 6] = [
    EventKind::MessageSent.as_str(),
    EventKind::CheckedIn.as_str(),
    EventKind::LinkClicked.as_str(),
    EventKind::CouponClaimed.as_str(),
    EventKind::OrderPlaced.as_str(),
    EventKind::OrderPaid.as_str(),
];

/// How far in the future an event may be dated.
pub const MAX_FUTURE_HOURS: i64 = 24;
/// Most events in one batch request.
pub const MAX_BATCH: usize = 1000;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum EventSource {
    Api,
    Wecom,
    Telegram,
    Slack,
    Feishu,
    Generic,
    Import,
}

/// A member or group named by its platform id (created on first sight).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformRef {
    pub platform: Platform,
    pub external_id: String,
    /// Display name (member) or group name, used when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A member that is a bot (set when it is created; metrics and welcomes skip bots).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_bot: bool,
}

/// One event as clients send it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The client's id of the event (a UUID or any string up to 128 characters): the dedupe key.
    pub id: String,
    /// `member_joined`, `message_sent`, ..., or `custom.<name>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened at the source; every metric uses this time.
    pub occurred_at: DateTime<Utc>,
    pub member_id: Option<MemberId>,
    pub member: Option<PlatformRef>,
    pub group_id: Option<GroupId>,
    pub group: Option<PlatformRef>,
    pub campaign_id: Option<CampaignId>,
    /// A campaign's tracking code (kept even when no campaign has it yet).
    pub campaign_code: Option<String>,
    pub order_id: Option<String>,
    /// Minor units (fen, cents).
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub properties: Option<serde_json::Value>,
    /// `member_joined`: how they arrived.
    pub join_source: Option<JoinSource>,
    /// `member_joined` / `member_invited`: who invited them.
    pub inviter_id: Option<MemberId>,
    pub inviter: Option<PlatformRef>,
    pub invite_code: Option<String>,
    /// `member_joined`: the channel entry link it came through (a channel's
    /// code or id); kept as the property `channel`, attributes the stint.
    pub channel: Option<String>,
    /// `member_left`: why.
    pub leave_reason: Option<String>,
    /// `order_paid`: the coupon the order used (redeems it); kept as the
    /// property `coupon_code`.
    pub coupon_code: Option<String>,
    /// `order_paid`: the flash-sale reservation the order pays (confirms
    /// it); kept as the property `reservation_id`.
    pub reservation_id: Option<Uuid>,
}

/// How an event names a member, group or inviter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref {
    Id(Uuid),
    External(PlatformRef),
}

/// A validated event, ready to be resolved and stored (also what webhooks produce).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub member: Option<Ref>,
    pub group: Option<Ref>,
    pub campaign_id: Option<Uuid>,
    pub campaign_code: Option<String>,
    pub order_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub properties: serde_json::Value,
    pub source: EventSource,
    pub join_source: Option<JoinSource>,
    pub inviter: Option<Ref>,
    pub invite_code: Option<String>,
    pub leave_reason: Option<String>,
    /// A chat message's text when it is short enough to be a command
    /// ([`crate::platforms::inbound::command_text`]): handed to the
    /// reactions (check-in keywords) and never stored.
    pub text: Option<String>,
}

impl NewEvent {
    /// Refuses U+0000 in any text the event stores (PostgreSQL cannot hold
    /// it). Checked at ingestion for every event, whoever built it.
    pub fn check_nul(&self) -> Result<(), String> {
        let refs = [&self.member, &self.group, &self.inviter];
        let ref_texts = refs.into_iter().flatten().filter_map(|r| match r {
            Ref::External(p) => Some([Some(p.external_id.as_str()), p.name.as_deref()]),
            Ref::Id(_) => None,
        });
        let texts = [&self.order_id, &self.currency, &self.campaign_code, &self.invite_code, &self.leave_reason];
        let has_nul = |t: &Option<&str>| t.is_some_and(|s| s.contains('\0'));
        if texts.iter().any(|t| has_nul(&t.as_deref()))
            || ref_texts.flatten().any(|t| has_nul(&t))
            || self.kind.contains('\0')
        {
            return Err("contains a NUL character (U+0000)".into());
        }
        if let Some(path) = crate::validate::find_nul(&self.properties, "properties") {
            return Err(format!("{path} contains a NUL character (U+0000)"));
        }
        Ok(())
    }
}

/// The namespace of ids derived from client and platform ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x5e9f_5a1d_7c2b_4c1e_9d3a_6b0f_2e8c_41a7);

/// A deterministic event id from a scope and the source's own id.
pub fn derive_id(scope: &str, source_id: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{scope}:{source_id}").as_bytes())
}

/// The pattern of [`valid_type`]; without `joins_and_leaves`, of the types
/// that can count as activity (every type but `member_joined`/`member_left`).
pub fn type_pattern(joins_and_leaves: bool) -> String {
    let skip = if joins_and_leaves { 0 } else { 2 };
    let known = TYPES[skip..].join("|");
    format!("^({known}|custom\\.[a-z0-9][a-z0-9_-]{{0,63}})$")
}

/// Whether `kind` is a known type or `custom.<name>`.
pub fn valid_type(kind: &str) -> bool {
    TYPES.contains(&kind) || kind.strip_prefix("custom.").is_some_and(is_slug)
}

fn check_ref(r: &PlatformRef, what: &str) -> Result<(), String> {
    let ext = &r.external_id;
    if ext.is_empty() || ext.chars().count() > 128 || ext.chars().any(char::is_control) {
        return Err(format!("{what}.external_id must be 1-128 characters"));
    }
    if r.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(format!("{what}.name must be at most 200 characters"));
    }
    if r.is_bot && what == "group" {
        return Err("group.is_bot: only members can be bots".into());
    }
    Ok(())
}

fn pick(id: Option<Uuid>, ext: Option<PlatformRef>, what: &str) -> Result<Option<Ref>, String> {
    match (id, ext) {
        (Some(_), Some(_)) => Err(format!("give {what}_id or {what}, not both")),
        (Some(id), None) => Ok(Some(Ref::Id(id))),
        (None, Some(r)) => {
            check_ref(&r, what)?;
            Ok(Some(Ref::External(r)))
        }
        (None, None) => Ok(None),
    }
}

impl EventIn {
    /// Validates one event; the error is the item's rejection reason.
    pub fn into_new(self, now: DateTime<Utc>) -> Result<NewEvent, String> {
        if self.id.is_empty() || self.id.chars().count() > 128 || self.id.chars().any(char::is_control) {
            return Err("id must be 1-128 characters".into());
        }
        if !valid_type(&self.kind) {
            return Err(format!("unknown type `{}` (use a built-in type or custom.<name>)", self.kind));
        }
        if self.occurred_at > now + Duration::hours(MAX_FUTURE_HOURS) {
            return Err(format!("occurred_at is more than {MAX_FUTURE_HOURS} h in the future"));
        }
        let member = pick(self.member_id.map(|m| m.0), self.member, "member")?;
        let group = pick(self.group_id.map(|g| g.0), self.group, "group")?;
        let inviter = pick(self.inviter_id.map(|m| m.0), self.inviter, "inviter")?;
        let needs_member = EventKind::parse(&self.kind).is_some_and(EventKind::is_membership);
        if needs_member && (member.is_none() || group.is_none()) {
            return Err(format!("{} needs a member and a group", self.kind));
        }
        let is_order = self.kind.starts_with("order_");
        if is_order && self.order_id.is_none() {
            return Err(format!("{} needs order_id", self.kind));
        }
        if let Some(o) = &self.order_id {
            if o.is_empty() || o.chars().count() > 128 {
                return Err("order_id must be 1-128 characters".into());
            }
        }
        if self.amount.is_some_and(|a| !(0..=1_000_000_000_000).contains(&a)) {
            return Err("amount must be between 0 and 10^12 minor units".into());
        }
        if let Some(c) = &self.currency {
            if !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err("currency must be an ISO 4217 code such as CNY".into());
            }
        }
        if self.amount.is_some() != self.currency.is_some() && self.kind.starts_with("order_") {
            return Err("amount and currency go together".into());
        }
        if let Some(code) = &self.campaign_code {
            if !is_slug(code) {
                return Err("campaign_code is not a tracking code".into());
            }
        }
        let mut properties = self.properties.unwrap_or_else(|| serde_json::json!({}));
        if !properties.is_object() || properties.to_string().len() > 8 * 1024 {
            return Err("properties must be a JSON object of at most 8 KiB".into());
        }
        if let (Some(id), Some(obj)) = (self.reservation_id, properties.as_object_mut()) {
            obj.insert("reservation_id".into(), id.to_string().into());
        }
        if let Some(code) = self.coupon_code {
            if code.is_empty() || code.chars().count() > 64 || code.contains('\0') {
                return Err("coupon_code must be 1-64 characters".into());
            }
            if let Some(obj) = properties.as_object_mut() {
                obj.insert("coupon_code".into(), code.into());
            }
        }
        if let (Some(ch), Some(obj)) = (&self.channel, properties.as_object_mut()) {
            obj.insert("channel".into(), ch.clone().into());
        }
        let texts =
            [("invite_code", &self.invite_code), ("channel", &self.channel), ("leave_reason", &self.leave_reason)];
        for (field, v) in texts {
            if v.as_ref().is_some_and(|s| s.is_empty() || s.chars().count() > 200) {
                return Err(format!("{field} must be 1-200 characters"));
            }
        }
        let id = Uuid::parse_str(&self.id).unwrap_or_else(|_| derive_id("client", &self.id));
        Ok(NewEvent {
            id,
            kind: self.kind,
            occurred_at: self.occurred_at,
            member,
            group,
            campaign_id: self.campaign_id.map(|c| c.0),
            campaign_code: self.campaign_code,
            order_id: self.order_id,
            amount: self.amount,
            currency: self.currency,
            properties,
            source: EventSource::Api,
            join_source: self.join_source,
            inviter,
            invite_code: self.invite_code,
            leave_reason: self.leave_reason,
            text: None,
        })
    }
}

/// What happened to one submitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Accepted,
    Duplicate,
    Rejected,
}

/// The answer for one submitted event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    /// Position in the request.
    pub index: usize,
    pub status: ItemStatus,
    /// The stored event's id (for duplicates: the one already stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/events` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResult {
    pub results: Vec<ItemResult>,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

impl BatchResult {
    /// Counts the results.
    pub fn from_results(results: Vec<ItemResult>) -> Self {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        let (accepted, duplicates, rejected) =
            (count(ItemStatus::Accepted), count(ItemStatus::Duplicate), count(ItemStatus::Rejected));
        Self { results, accepted, duplicates, rejected }
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub group_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub campaign_code: Option<String>,
    pub order_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    #[sqlx(json)]
    pub properties: serde_json::Value,
    pub source: EventSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EventIn {
        serde_json::from_value(serde_json::json!({
            "id": "e-1", "type": "message_sent", "occurred_at": "2026-11-20T02:00:00Z",
            "member": {"platform": "telegram", "external_id": "42"}
        }))
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-20T02:00:00Z".parse().unwrap()
    }

    #[test]
    fn ids_are_kept_when_uuids_and_derived_stably_otherwise() {
        let e = base().into_new(now()).unwrap();
        assert_eq!(e.id, derive_id("client", "e-1"));
        let mut b = base();
        b.id = "018f2c4e-1d2b-7c3a-9e4f-5a6b7c8d9e0f".into();
        assert_eq!(b.into_new(now()).unwrap().id.to_string(), "018f2c4e-1d2b-7c3a-9e4f-5a6b7c8d9e0f");
    }

    #[test]
    fn each_rule_rejects_with_a_reason() {
        type Mutation = Box<dyn Fn(&mut EventIn)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|e| e.kind = "bought".into()), "unknown type"),
            (Box::new(|e| e.kind = "custom.Bad Name".into()), "unknown type"),
            (Box::new(|e| e.occurred_at = now() + Duration::hours(25)), "future"),
            (Box::new(|e| e.kind = "order_paid".into()), "order_id"),
            (Box::new(|e| e.member_id = Some(MemberId::new())), "not both"),
            (Box::new(|e| e.kind = "member_joined".into()), "needs a member and a group"),
            (Box::new(|e| e.properties = Some(serde_json::json!([1]))), "properties"),
            (Box::new(|e| e.currency = Some("rmb".into())), "currency"),
            (Box::new(|e| e.amount = Some(-5)), "amount"),
            (Box::new(|e| e.id = String::new()), "id"),
        ];
        for (mutate, reason) in cases {
            let mut e = base();
            mutate(&mut e);
            let err = e.into_new(now()).unwrap_err();
            assert!(err.contains(reason), "{err} should mention {reason}");
        }
    }

    #[test]
    fn late_events_and_custom_types_are_fine() {
        let mut e = base();
        e.occurred_at = now() - Duration::days(400);
        e.kind = "custom.shared_poster".into();
        assert!(e.into_new(now()).is_ok());
        let mut e = base();
        e.occurred_at = now() + Duration::hours(23);
        assert!(e.into_new(now()).is_ok());
    }
}
