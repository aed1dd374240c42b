//! Member DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::MemberId;
use crate::keys::model::Role;
use crate::platform::{check_identities, identities_schema, opt_identities_schema, Identity};
use crate::tags::model::{check_tag_list, MAX_TAGS_PER_ITEM};
use crate::validate::{schema, Checks};

/// A member.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub id: MemberId,
    pub display_name: String,
    /// Personal data: masked for viewer keys.
    pub phone: Option<String>,
    /// Personal data: masked for viewer keys.
    pub email: Option<String>,
    pub identities: Vec<Identity>,
    /// Custom attributes.
    pub attributes: serde_json::Value,
    pub tags: Vec<String>,
    pub is_staff: bool,
    pub is_bot: bool,
    /// Current tier key.
    pub tier: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_active_at: Option<DateTime<Utc>>,
    /// Set when personal data was erased.
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Member {
    /// The member as a key of `role` may see it: masked below operator.
    pub fn as_seen_by(self, role: Role) -> Self {
        if role >= Role::Operator {
            self
        } else {
            self.masked()
        }
    }

    /// Hides most of phone and email (for viewer keys).
    pub fn masked(mut self) -> Self {
        self.phone = self.phone.map(|p| mask_phone(&p));
        self.email = self.email.map(|e| mask_email(&e));
        self
    }
}

fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    // Long numbers keep 3 + 4 digits (138****5678); short ones 1 + 2.
    let (head, tail) = if n > 7 { (3, 4) } else { (1, 2) };
    chars.iter().enumerate().map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' }).collect()
}

fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

/// `POST /v1/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 100>)]
    pub display_name: String,
    #[serde(default)]
    #[schema(schema_with = identities_schema)]
    pub identities: Vec<Identity>,
    #[schema(schema_with = schema::opt_phone)]
    pub phone: Option<String>,
    #[schema(schema_with = schema::opt_email)]
    pub email: Option<String>,
    #[schema(schema_with = schema::opt_json_object::<16>)]
    pub attributes: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(schema_with = schema::tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub is_staff: bool,
    #[serde(default)]
    pub is_bot: bool,
    /// Initial tier (recorded in the tier history).
    #[schema(schema_with = schema::opt_slug)]
    pub tier: Option<String>,
    /// Defaults to now.
    pub first_seen_at: Option<DateTime<Utc>>,
}

/// `PATCH /v1/members/{id}`. `attributes` is merged: a key set to `null` is
/// removed. The tier changes through `PUT /v1/members/{id}/tier` only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[schema(schema_with = schema::opt_text::<0, 100>)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_phone)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_email)]
    pub email: Option<Option<String>>,
    #[schema(schema_with = schema::opt_json_object::<16>)]
    pub attributes: Option<serde_json::Value>,
    #[schema(schema_with = schema::opt_tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags: Option<Vec<String>>,
    /// Replaces the identities.
    #[schema(schema_with = opt_identities_schema)]
    pub identities: Option<Vec<Identity>>,
    pub is_staff: Option<bool>,
    pub is_bot: Option<bool>,
}

impl UpdateMember {
    /// Applies the member's own fields to `m`; returns the names of those
    /// given, for the audit entry (flags are applied but not named;
    /// identities and tags live in other tables).
    pub fn apply_to(&self, m: &mut Member) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if let Some(n) = &self.display_name {
            m.display_name = n.trim().to_owned();
            fields.push("display_name");
        }
        if let Some(p) = &self.phone {
            m.phone.clone_from(p);
            fields.push("phone");
        }
        if let Some(e) = &self.email {
            m.email.clone_from(e);
            fields.push("email");
        }
        if let Some(a) = &self.attributes {
            merge_attributes(&mut m.attributes, a.clone());
            fields.push("attributes");
        }
        m.is_staff = self.is_staff.unwrap_or(m.is_staff);
        m.is_bot = self.is_bot.unwrap_or(m.is_bot);
        fields
    }
}

/// `PUT /v1/members/{id}/tier`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTier {
    /// Tier key, or null to clear.
    #[schema(schema_with = schema::opt_slug)]
    pub tier: Option<String>,
    /// Why (kept in the history).
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 500>)]
    pub reason: String,
}

/// One tier change.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TierChange {
    pub id: uuid::Uuid,
    pub from_tier: Option<String>,
    pub to_tier: Option<String>,
    pub reason: String,
    /// `api_key`, `rule`, `system` or `cli`.
    pub actor_type: String,
    pub actor_id: Option<uuid::Uuid>,
    pub changed_at: DateTime<Utc>,
}

fn check_phone(c: &mut Checks, p: &str) {
    let digits = p.chars().filter(char::is_ascii_digit).count();
    let ok = p.chars().all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | ' ' | '(' | ')'))
        && (5..=20).contains(&digits)
        && p.len() <= 32;
    if !ok {
        c.fail("phone", "invalid", "must be a phone number of 5-20 digits");
    }
}

fn check_email(c: &mut Checks, e: &str) {
    c.email("email", e);
}

impl CreateMember {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("display_name", &self.display_name, 0, 100);
        check_identities(&mut c, "identities", &self.identities);
        if let Some(p) = &self.phone {
            check_phone(&mut c, p);
        }
        if let Some(e) = &self.email {
            check_email(&mut c, e);
        }
        if let Some(a) = &self.attributes {
            c.json_object("attributes", a, 16 * 1024);
        }
        check_tag_list(&mut c, "tags", &self.tags);
        if let Some(t) = &self.tier {
            c.slug("tier", t);
        }
        c.finish()
    }
}

impl UpdateMember {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(n) = &self.display_name {
            c.text("display_name", n, 0, 100);
        }
        if let Some(Some(p)) = &self.phone {
            check_phone(&mut c, p);
        }
        if let Some(Some(e)) = &self.email {
            check_email(&mut c, e);
        }
        if let Some(a) = &self.attributes {
            c.json_object("attributes", a, 16 * 1024);
        }
        if let Some(t) = &self.tags {
            check_tag_list(&mut c, "tags", t);
        }
        if let Some(ids) = &self.identities {
            check_identities(&mut c, "identities", ids);
        }
        c.finish()
    }
}

impl SetTier {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(t) = &self.tier {
            c.slug("tier", t);
        }
        c.text("reason", &self.reason, 0, 500);
        c.finish()
    }
}

/// JSON merge of `patch` into `target` (RFC 7386 at the top level: null removes).
pub fn merge_attributes(target: &mut serde_json::Value, patch: serde_json::Value) {
    if let (Some(t), serde_json::Value::Object(p)) = (target.as_object_mut(), patch) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(&k);
            } else {
                t.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked_for_viewers() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "1**45");
        assert_eq!(mask_email("lily@example.com"), "l***@example.com");
    }

    #[test]
    fn attribute_patches_merge_and_null_removes() {
        let mut a = serde_json::json!({"city": "Shanghai", "kids": 1});
        merge_attributes(&mut a, serde_json::json!({"kids": null, "vip_since": "2026"}));
        assert_eq!(a, serde_json::json!({"city": "Shanghai", "vip_since": "2026"}));
    }

    /// The published patterns of phone and email accept exactly what the
    /// checks accept, over drawn inputs.
    #[test]
    fn phone_and_email_patterns_are_their_checks() {
        let phone = regex::Regex::new(schema::opt_phone().pattern.as_deref().unwrap()).unwrap();
        let email = regex::Regex::new(schema::opt_email().pattern.as_deref().unwrap()).unwrap();
        let ok = |f: fn(&mut Checks, &str), v: &str| {
            let mut c = Checks::new();
            f(&mut c, v);
            c.is_empty()
        };
        let pieces = ["1", "38", "12345", "+", "-", " ", "(", ")", "a", "@", ".", "x", "b.c", "\t", "中", "\u{3000}"];
        let mut next = crate::validate::draws(0x5151_2026_0a0b_0c0d);
        let (mut phones_ok, mut emails_ok) = (0, 0);
        for _ in 0..30_000 {
            let v: String = (0..1 + next(12)).map(|_| pieces[next(pieces.len())]).collect();
            let max = |n: usize| v.chars().count() <= n;
            // maxLength is the schema's other half of each rule.
            assert_eq!(phone.is_match(&v) && max(32), ok(check_phone, &v), "phone {v:?}");
            assert_eq!(email.is_match(&v) && max(254), ok(check_email, &v), "email {v:?}");
            phones_ok += usize::from(ok(check_phone, &v));
            emails_ok += usize::from(ok(check_email, &v));
        }
        assert!(phones_ok > 100 && emails_ok > 100, "{phones_ok} phones, {emails_ok} emails accepted");
    }
}
