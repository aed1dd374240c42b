//! Tag DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::TagId;
use crate::validate::{schema, Checks};

/// Most tags on one group or member.
pub const MAX_TAGS_PER_ITEM: usize = 50;

/// A tag.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    /// `#RRGGBB`.
    pub color: Option<String>,
    pub description: String,
    /// Groups carrying it.
    pub group_count: i64,
    /// Members carrying it.
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    #[schema(schema_with = schema::tag_name)]
    pub name: String,
    #[schema(schema_with = color_schema)]
    pub color: Option<String>,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 500>)]
    pub description: String,
}

/// `PATCH /v1/tags/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTag {
    #[schema(schema_with = schema::opt_tag_name)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = color_schema)]
    pub color: Option<Option<String>>,
    #[schema(schema_with = schema::opt_text::<0, 500>)]
    pub description: Option<String>,
}

/// Checks one tag name.
pub fn check_tag_name(c: &mut Checks, field: &str, name: &str) {
    c.text(field, name, 1, 50);
    if name.contains(',') {
        c.fail(field, "invalid", "must not contain commas");
    }
}

/// Checks a list of tag names.
pub fn check_tag_list(c: &mut Checks, field: &str, names: &[String]) {
    if names.len() > MAX_TAGS_PER_ITEM {
        c.fail(field, "too_many", format!("at most {MAX_TAGS_PER_ITEM} tags"));
    }
    for (i, n) in names.iter().enumerate() {
        check_tag_name(c, &format!("{field}[{i}]"), n);
    }
}

/// The schema of [`check_color`]: `#RRGGBB` or `null`.
fn color_schema() -> utoipa::openapi::schema::Object {
    schema::matching("^#[0-9A-Fa-f]{6}$", true)
}

fn check_color(c: &mut Checks, color: &str) {
    let ok = color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        c.fail("color", "invalid", "must be #RRGGBB");
    }
}

impl CreateTag {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_tag_name(&mut c, "name", &self.name);
        if let Some(col) = &self.color {
            check_color(&mut c, col);
        }
        c.text("description", &self.description, 0, 500);
        c.finish()
    }
}

impl UpdateTag {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(n) = &self.name {
            check_tag_name(&mut c, "name", n);
        }
        if let Some(Some(col)) = &self.color {
            check_color(&mut c, col);
        }
        if let Some(d) = &self.description {
            c.text("description", d, 0, 500);
        }
        c.finish()
    }
}

/// Trims and de-duplicates tag names, keeping first-seen order.
pub fn normalize(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let t = n.trim().to_owned();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
