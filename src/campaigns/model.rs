//! Campaign DTOs and the lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::{CampaignId, GroupId, LayerId};
use crate::validate::{is_slug, schema, Checks};

/// The operating scene a campaign serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Scene {
    /// Grow through members' friends (裂变).
    Fission,
    /// Keep new members (留存).
    Retention,
    /// Daily habit (活跃).
    Activity,
    /// Orders (转化).
    Conversion,
}

/// The play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CampaignKind {
    CheckIn,
    Coupon,
    FlashSale,
    Lottery,
    GroupBuy,
    Bargain,
    Referral,
    Content,
    Custom,
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Ended,
    Cancelled,
}

/// The legal transitions: draft → scheduled | running | cancelled;
/// scheduled → draft | running | cancelled; running → ended | cancelled.
/// `ended` and `cancelled` are final.
pub fn can_transition(from: CampaignStatus, to: CampaignStatus) -> bool {
    use CampaignStatus::*;
    matches!(
        (from, to),
        (Draft, Scheduled | Running | Cancelled)
            | (Scheduled, Draft | Running | Cancelled)
            | (Running, Ended | Cancelled)
    )
}

/// Where a campaign runs: one of a layer or explicit groups; absent = every group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CampaignTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<GroupId>>,
}

impl utoipa::PartialSchema for CampaignTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::exactly_one(
            "Where a campaign runs: exactly one of a layer or 1-1000 explicit groups",
            [
                ("layer_id", schema::reference::<LayerId>()),
                ("group_ids", schema::array(schema::reference::<GroupId>(), 1, 1000)),
            ],
        )
    }
}

impl ToSchema for CampaignTarget {
    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push((LayerId::name().into_owned(), <LayerId as utoipa::PartialSchema>::schema()));
        out.push((GroupId::name().into_owned(), <GroupId as utoipa::PartialSchema>::schema()));
    }
}

/// A campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub description: String,
    pub scene: Scene,
    pub kind: CampaignKind,
    pub status: CampaignStatus,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Null: every group of the workspace.
    pub target: Option<CampaignTarget>,
    /// Unique in the workspace; events carry it to be attributed.
    pub tracking_code: String,
    /// Landing page / order link.
    pub link: Option<String>,
    /// Mechanics: for `check_in`, [`super::settings::CheckInSettings`]
    /// (stored with its defaults filled in); a free JSON object for kinds
    /// without an engine yet.
    #[schema(schema_with = super::settings::schema)]
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/campaigns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 4000>)]
    pub description: String,
    pub scene: Scene,
    pub kind: CampaignKind,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub target: Option<CampaignTarget>,
    /// Generated when absent.
    #[schema(schema_with = schema::opt_slug)]
    pub tracking_code: Option<String>,
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<String>,
    /// Read for the campaign's `kind` (see `Campaign.settings`).
    #[schema(schema_with = super::settings::opt_schema)]
    pub settings: Option<serde_json::Value>,
}

/// `PATCH /v1/campaigns/{id}` (not allowed once ended or cancelled).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[schema(schema_with = schema::opt_text::<0, 4000>)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// After `starts_at`: given together, 422 otherwise; given alone and not
    /// after the stored `starts_at`, 409 `before_start`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CampaignTarget>)]
    pub target: Option<Option<CampaignTarget>>,
    /// Only while a draft.
    #[schema(schema_with = schema::opt_slug)]
    pub tracking_code: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<Option<String>>,
    /// Replaces the settings whole; read for the campaign's `kind`.
    #[schema(schema_with = super::settings::opt_schema)]
    pub settings: Option<serde_json::Value>,
}

/// `POST /v1/campaigns/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    pub status: CampaignStatus,
}

fn check_target(c: &mut Checks, t: &CampaignTarget) {
    match (&t.layer_id, &t.group_ids) {
        (Some(_), Some(_)) | (None, None) => c.fail("target", "invalid", "give exactly one of layer_id or group_ids"),
        (None, Some(ids)) if ids.is_empty() || ids.len() > 1000 => {
            c.fail("target.group_ids", "invalid", "must hold 1 to 1000 group ids")
        }
        _ => {}
    }
}

/// Checks the fields shared by create and update.
fn check_common(c: &mut Checks, tracking_code: Option<&str>, link: Option<&str>, settings: Option<&serde_json::Value>) {
    if let Some(code) = tracking_code {
        if !is_slug(code) {
            c.fail("tracking_code", "invalid", "must be 1-64 characters of a-z, 0-9, '_' or '-'");
        }
    }
    if let Some(l) = link {
        c.url("link", l);
    }
    if let Some(s) = settings {
        c.json_object("settings", s, 64 * 1024);
    }
}

/// Checks a period.
pub fn check_period(c: &mut Checks, starts: Option<DateTime<Utc>>, ends: Option<DateTime<Utc>>) {
    if let (Some(s), Some(e)) = (starts, ends) {
        if e <= s {
            c.fail("ends_at", "before_start", "must be after starts_at");
        }
    }
}

impl CreateCampaign {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 200);
        c.text("description", &self.description, 0, 4000);
        check_period(&mut c, self.starts_at, self.ends_at);
        if let Some(t) = &self.target {
            check_target(&mut c, t);
        }
        check_common(&mut c, self.tracking_code.as_deref(), self.link.as_deref(), self.settings.as_ref());
        c.finish()
    }
}

impl UpdateCampaign {
    /// Validates present fields: a period given whole here (422); one end
    /// against the other stored is checked after merging (409).
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let (Some(starts), Some(ends)) = (self.starts_at, self.ends_at) {
            check_period(&mut c, starts, ends);
        }
        c.opt_text("name", self.name.as_deref(), 200);
        if let Some(d) = &self.description {
            c.text("description", d, 0, 4000);
        }
        if let Some(Some(t)) = &self.target {
            check_target(&mut c, t);
        }
        check_common(
            &mut c,
            self.tracking_code.as_deref(),
            self.link.as_ref().and_then(|l| l.as_deref()),
            self.settings.as_ref(),
        );
        c.finish()
    }
}

impl CreateCampaign {
    /// The new campaign: a draft, with a fresh tracking code unless one is
    /// given and its settings read for its kind (422 naming the field).
    pub fn into_campaign(self, now: DateTime<Utc>) -> ApiResult<Campaign> {
        Ok(Campaign {
            id: CampaignId::new(),
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            scene: self.scene,
            kind: self.kind,
            status: CampaignStatus::Draft,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            target: self.target,
            tracking_code: match self.tracking_code {
                Some(c) => c,
                None => generate_tracking_code()?,
            },
            link: self.link,
            settings: super::settings::normalize(self.kind, self.settings)?,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A fresh tracking code (`c-` + 10 base32 characters).
pub fn generate_tracking_code() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("c-{}", bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::CampaignStatus::*;
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_legal() {
        let all = [Draft, Scheduled, Running, Ended, Cancelled];
        let legal: Vec<_> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| can_transition(*a, *b))
            .collect();
        assert_eq!(
            legal,
            vec![
                (Draft, Scheduled),
                (Draft, Running),
                (Draft, Cancelled),
                (Scheduled, Draft),
                (Scheduled, Running),
                (Scheduled, Cancelled),
                (Running, Ended),
                (Running, Cancelled)
            ]
        );
    }

    #[test]
    fn tracking_codes_are_valid_slugs() {
        let a = generate_tracking_code().unwrap();
        assert!(is_slug(&a) && a.len() == 12, "{a}");
        assert_ne!(a, generate_tracking_code().unwrap());
    }
}
