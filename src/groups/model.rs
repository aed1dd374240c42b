//! Group DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::{GroupId, StaffId};
use crate::platform::{check_external_id, Platform};
use crate::tags::model::{check_tag_list, MAX_TAGS_PER_ITEM};
use crate::validate::{schema, Checks};

/// Lifecycle status of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum GroupStatus {
    Active,
    /// Kept for history, not operated any more.
    Archived,
    /// Dissolved on the platform.
    Dismissed,
}

/// A chat group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub id: GroupId,
    pub platform: Platform,
    /// The platform's chat id.
    pub external_id: String,
    pub name: String,
    /// IANA timezone overriding the workspace's, if set.
    pub timezone: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    /// Value tier key (`vip`, `basic`, ...).
    pub tier: Option<String>,
    pub owner_staff_id: Option<StaffId>,
    pub status: GroupStatus,
    /// Where a new member joins (the group's invite link or QR page): where
    /// a channel entry link sends them.
    pub invite_url: Option<String>,
    /// Group announcement (群公告).
    pub notice: String,
    /// Group rules (群规).
    pub rules: String,
    /// Free attributes.
    pub attributes: serde_json::Value,
    pub tags: Vec<String>,
    /// Members with an open stint.
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub platform: Platform,
    #[schema(schema_with = schema::external_id)]
    pub external_id: String,
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    #[schema(value_type = Option<schema::Timezone>)]
    pub timezone: Option<String>,
    #[schema(schema_with = schema::opt_text::<1, 64>)]
    pub region: Option<String>,
    #[schema(schema_with = schema::opt_text::<1, 64>)]
    pub category: Option<String>,
    #[schema(schema_with = schema::opt_slug)]
    pub tier: Option<String>,
    pub owner_staff_id: Option<StaffId>,
    pub status: Option<GroupStatus>,
    /// The group's invite link (where channel entry links send joiners).
    #[schema(schema_with = schema::opt_url)]
    pub invite_url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 4000>)]
    pub notice: String,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 4000>)]
    pub rules: String,
    #[schema(schema_with = schema::opt_json_object::<16>)]
    pub attributes: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(schema_with = schema::tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags: Vec<String>,
}

/// `PATCH /v1/groups/{id}`: absent fields stay, `null` clears nullable ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<schema::Timezone>)]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_text::<1, 64>)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_text::<1, 64>)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_slug)]
    pub tier: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<StaffId>)]
    pub owner_staff_id: Option<Option<StaffId>>,
    pub status: Option<GroupStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub invite_url: Option<Option<String>>,
    #[schema(schema_with = schema::opt_text::<0, 4000>)]
    pub notice: Option<String>,
    #[schema(schema_with = schema::opt_text::<0, 4000>)]
    pub rules: Option<String>,
    #[schema(schema_with = schema::opt_json_object::<16>)]
    pub attributes: Option<serde_json::Value>,
    #[schema(schema_with = schema::opt_tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags: Option<Vec<String>>,
}

/// Checks the optional descriptive fields shared by create and update.
#[allow(clippy::too_many_arguments)]
fn check_common(
    c: &mut Checks,
    name: Option<&str>,
    timezone: Option<&str>,
    region: Option<&str>,
    category: Option<&str>,
    tier: Option<&str>,
    notice: Option<&str>,
    rules: Option<&str>,
    attributes: Option<&serde_json::Value>,
    tags: Option<&[String]>,
) {
    if let Some(n) = name {
        c.text("name", n, 1, 200);
    }
    if let Some(tz) = timezone {
        c.timezone("timezone", tz);
    }
    c.opt_text("region", region, 64);
    c.opt_text("category", category, 64);
    if let Some(t) = tier {
        c.slug("tier", t);
    }
    if let Some(n) = notice {
        c.text("notice", n, 0, 4000);
    }
    if let Some(r) = rules {
        c.text("rules", r, 0, 4000);
    }
    if let Some(a) = attributes {
        c.json_object("attributes", a, 16 * 1024);
    }
    if let Some(t) = tags {
        check_tag_list(c, "tags", t);
    }
}

impl CreateGroup {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_external_id(&mut c, "external_id", &self.external_id);
        check_common(
            &mut c,
            Some(&self.name),
            self.timezone.as_deref(),
            self.region.as_deref(),
            self.category.as_deref(),
            self.tier.as_deref(),
            Some(&self.notice),
            Some(&self.rules),
            self.attributes.as_ref(),
            Some(&self.tags),
        );
        if let Some(u) = &self.invite_url {
            c.url("invite_url", u);
        }
        c.finish()
    }
}

impl UpdateGroup {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_common(
            &mut c,
            self.name.as_deref(),
            self.timezone.as_ref().and_then(|o| o.as_deref()),
            self.region.as_ref().and_then(|o| o.as_deref()),
            self.category.as_ref().and_then(|o| o.as_deref()),
            self.tier.as_ref().and_then(|o| o.as_deref()),
            self.notice.as_deref(),
            self.rules.as_deref(),
            self.attributes.as_ref(),
            self.tags.as_deref(),
        );
        if let Some(Some(u)) = &self.invite_url {
            c.url("invite_url", u);
        }
        c.finish()
    }
}
