//! Layer DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::groups::model::GroupStatus;
use crate::groups::repo::GroupFilter;
use crate::ids::{GroupId, LayerId};
use crate::platform::Platform;
use crate::tags::model::{check_tag_list, MAX_TAGS_PER_ITEM};
use crate::validate::{schema, Checks};

/// Most explicit group ids in one selector.
pub const MAX_IDS: usize = 1000;
/// Most tiers, regions or categories in one selector.
pub const MAX_VALUES: usize = 100;

/// Which groups a layer holds. Non-empty criteria must all hold (a list
/// matches any of its values; `tags_all` needs every tag); `group_ids` are
/// added, `exclude_group_ids` removed; `statuses` defaults to `["active"]`.
/// An empty selector holds every active group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerSelector {
    #[serde(default)]
    #[schema(schema_with = schema::tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::tag_list::<{ MAX_TAGS_PER_ITEM }>)]
    pub tags_all: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::slugs::<{ MAX_VALUES }>)]
    pub tiers: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::texts::<1, 64, { MAX_VALUES }>)]
    pub regions: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::texts::<1, 64, { MAX_VALUES }>)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    #[schema(schema_with = schema::uuids::<{ MAX_IDS }>)]
    pub group_ids: Vec<GroupId>,
    #[serde(default)]
    #[schema(schema_with = schema::uuids::<{ MAX_IDS }>)]
    pub exclude_group_ids: Vec<GroupId>,
    #[serde(default = "active_only")]
    pub statuses: Vec<GroupStatus>,
}

fn active_only() -> Vec<GroupStatus> {
    vec![GroupStatus::Active]
}

impl LayerSelector {
    /// Validates, naming fields under `field`.
    pub fn check(&self, c: &mut Checks, field: &str) {
        check_tag_list(c, &format!("{field}.tags"), &self.tags);
        check_tag_list(c, &format!("{field}.tags_all"), &self.tags_all);
        for (name, n) in
            [("tiers", self.tiers.len()), ("regions", self.regions.len()), ("categories", self.categories.len())]
        {
            if n > MAX_VALUES {
                c.fail(format!("{field}.{name}"), "too_many", format!("at most {MAX_VALUES} values"));
            }
        }
        for (i, t) in self.tiers.iter().enumerate() {
            c.slug(&format!("{field}.tiers[{i}]"), t);
        }
        for (name, list) in [("regions", &self.regions), ("categories", &self.categories)] {
            for (i, v) in list.iter().enumerate() {
                c.text(&format!("{field}.{name}[{i}]"), v, 1, 64);
            }
        }
        if self.group_ids.len() > MAX_IDS || self.exclude_group_ids.len() > MAX_IDS {
            c.fail(format!("{field}.group_ids"), "too_many", format!("at most {MAX_IDS} ids"));
        }
    }

    /// The group filter this selector stands for.
    pub fn to_filter(&self) -> GroupFilter {
        GroupFilter {
            statuses: self.statuses.clone(),
            platforms: self.platforms.clone(),
            tiers: self.tiers.clone(),
            regions: self.regions.clone(),
            categories: self.categories.clone(),
            tags_any: self.tags.clone(),
            tags_all: self.tags_all.clone(),
            include_ids: self.group_ids.iter().map(|g| g.0).collect(),
            exclude_ids: self.exclude_group_ids.iter().map(|g| g.0).collect(),
            q: None,
            owner_staff_id: None,
        }
    }
}

/// A layer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Layer {
    pub id: LayerId,
    pub name: String,
    pub description: String,
    pub selector: LayerSelector,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/layers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLayer {
    #[schema(schema_with = schema::text::<1, 100>)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 1000>)]
    pub description: String,
    pub selector: LayerSelector,
}

/// `PATCH /v1/layers/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLayer {
    #[schema(schema_with = schema::opt_text::<1, 100>)]
    pub name: Option<String>,
    #[schema(schema_with = schema::opt_text::<0, 1000>)]
    pub description: Option<String>,
    /// Replaces the selector.
    pub selector: Option<LayerSelector>,
}

impl CreateLayer {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 100);
        c.text("description", &self.description, 0, 1000);
        self.selector.check(&mut c, "selector");
        c.finish()
    }
}

impl UpdateLayer {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 100);
        if let Some(d) = &self.description {
            c.text("description", d, 0, 1000);
        }
        if let Some(s) = &self.selector {
            s.check(&mut c, "selector");
        }
        c.finish()
    }
}
