//! Tier DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::ids::TierId;
use crate::validate::{schema, Checks};

/// Most tiers a workspace may define.
pub const MAX_TIERS: i64 = 50;

/// A value tier.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tier {
    pub id: TierId,
    /// Stable machine key used by groups and members (`vip`).
    pub key: String,
    /// Display name (`VIP`).
    pub name: String,
    /// Higher rank = more valuable.
    pub rank: i32,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/tiers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTier {
    #[schema(schema_with = schema::slug)]
    pub key: String,
    #[schema(schema_with = schema::text::<1, 100>)]
    pub name: String,
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub rank: i32,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 1000>)]
    pub description: String,
}

/// `PATCH /v1/tiers/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTier {
    #[schema(schema_with = schema::opt_slug)]
    pub key: Option<String>,
    #[schema(schema_with = schema::opt_text::<1, 100>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_int32")]
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub rank: Option<i32>,
    #[schema(schema_with = schema::opt_text::<0, 1000>)]
    pub description: Option<String>,
}

fn check_rank(c: &mut Checks, rank: i32) {
    if !(-1_000_000..=1_000_000).contains(&rank) {
        c.fail("rank", "out_of_range", "must be between -1000000 and 1000000");
    }
}

impl CreateTier {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.slug("key", &self.key);
        c.text("name", &self.name, 1, 100);
        check_rank(&mut c, self.rank);
        c.text("description", &self.description, 0, 1000);
        c.finish()
    }
}

impl UpdateTier {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(k) = &self.key {
            c.slug("key", k);
        }
        c.opt_text("name", self.name.as_deref(), 100);
        if let Some(r) = self.rank {
            check_rank(&mut c, r);
        }
        if let Some(d) = &self.description {
            c.text("description", d, 0, 1000);
        }
        c.finish()
    }
}
