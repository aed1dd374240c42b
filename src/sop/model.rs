//! SOP plan DTOs and their field rules.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::timing::{parse_hhmm, Quiet, Timing, TimingSpec};
use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::{CampaignId, ConnectionId, ContentId, GroupId, LayerId, PlanId, StepId};
use crate::validate::{schema, Checks};

/// Whether a plan sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PlanStatus {
    /// Slots fire.
    Active,
    /// No slot fires; resuming continues with future slots only.
    Paused,
    /// Final: kept for its history.
    Archived,
}

/// Whom a plan sends to: exactly one of a layer, explicit groups, or every group of a tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<GroupId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

impl utoipa::PartialSchema for PlanTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::exactly_one(
            "Whom a plan sends to: exactly one of a layer, 1-1000 explicit groups, or every group of a tier",
            [
                ("layer_id", schema::reference::<LayerId>()),
                ("group_ids", schema::array(schema::reference::<GroupId>(), 1, MAX_TARGET_GROUPS)),
                ("tier", schema::slug().into()),
            ],
        )
    }
}

impl ToSchema for PlanTarget {
    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push((LayerId::name().into_owned(), <LayerId as utoipa::PartialSchema>::schema()));
        out.push((GroupId::name().into_owned(), <GroupId as utoipa::PartialSchema>::schema()));
    }
}

/// Most explicit groups a plan targets.
pub const MAX_TARGET_GROUPS: usize = 1000;

/// Local times during which nothing is sent; a slot inside moves to `end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`.
    #[schema(schema_with = hhmm)]
    pub start: String,
    /// `HH:MM`, not `start`; before `start` wraps midnight (22:00-08:00).
    #[schema(schema_with = hhmm)]
    pub end: String,
}

/// A new plan's status: `active` or `paused` (or `null`).
fn new_status() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(schema::typed(utoipa::openapi::schema::Type::String, true))
        .enum_values(Some([serde_json::json!("active"), serde_json::json!("paused"), serde_json::Value::Null]))
        .build()
}

fn hhmm() -> utoipa::openapi::schema::Object {
    schema::matching(schema::HHMM, false)
}

fn steps_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<StepInput as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .max_items(Some(MAX_STEPS))
        .build()
}

fn opt_steps_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(schema::typed(utoipa::openapi::schema::Type::Array, true))
        .items(<StepInput as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .max_items(Some(MAX_STEPS))
        .build()
}

impl QuietHours {
    /// The parsed window (validated on input).
    pub fn window(&self) -> Option<Quiet> {
        Some(Quiet { start: parse_hhmm(&self.start)?, end: parse_hhmm(&self.end)? })
    }
}

/// A step as given.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    pub content_id: ContentId,
    pub timing: TimingSpec,
}

/// A step of a plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SopStep)]
pub struct Step {
    pub id: StepId,
    /// 0-based position (`step_index` in previews and deliveries).
    pub index: i32,
    pub content_id: ContentId,
    pub timing: TimingSpec,
}

/// An SOP plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub status: PlanStatus,
    pub target: PlanTarget,
    pub campaign_id: Option<CampaignId>,
    /// Null: each group's own platform connection.
    pub connection_id: Option<ConnectionId>,
    pub quiet_hours: Option<QuietHours>,
    pub jitter_seconds: i32,
    /// First local date slots may fall on (in each group's timezone).
    pub starts_on: Option<NaiveDate>,
    /// Last local date slots may fall on.
    pub ends_on: Option<NaiveDate>,
    pub steps: Vec<Step>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/sop-plans`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    pub target: PlanTarget,
    pub campaign_id: Option<CampaignId>,
    pub connection_id: Option<ConnectionId>,
    pub quiet_hours: Option<QuietHours>,
    #[serde(default, deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 0, maximum = 3600)]
    pub jitter_seconds: i32,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// `active` (default) or `paused`.
    #[schema(schema_with = new_status)]
    pub status: Option<PlanStatus>,
    #[schema(schema_with = steps_schema)]
    pub steps: Vec<StepInput>,
}

/// `PATCH /v1/sop-plans/{id}`: changes apply to future slots only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlan {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub target: Option<PlanTarget>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CampaignId>)]
    pub campaign_id: Option<Option<CampaignId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ConnectionId>)]
    pub connection_id: Option<Option<ConnectionId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<Option<QuietHours>>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_int32")]
    #[schema(minimum = 0, maximum = 3600)]
    pub jitter_seconds: Option<i32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub starts_on: Option<Option<NaiveDate>>,
    /// Not before `starts_on`: given together, 422 otherwise; given alone
    /// and before the stored `starts_on`, 409 `before_start`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub ends_on: Option<Option<NaiveDate>>,
    /// Replaces every step; unchanged steps keep their ids.
    #[schema(schema_with = opt_steps_schema)]
    pub steps: Option<Vec<StepInput>>,
}

/// `POST /v1/sop-plans/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanStatus {
    pub status: PlanStatus,
}

/// `GET /v1/sop-plans/{id}/preview`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// First local date, 1970-9999 (default: today in the workspace's timezone).
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<NaiveDate>,
    /// Days to show, 1-90 (default 7).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
    /// Only this group.
    pub group_id: Option<GroupId>,
}

/// Plan list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    pub status: Option<PlanStatus>,
    pub campaign_id: Option<CampaignId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// One slot that will fire.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct PreviewItem {
    pub group_id: GroupId,
    pub step_id: StepId,
    pub step_index: i32,
    /// The slot's nominal local time (`YYYY-MM-DDTHH:MM`) in the group's timezone.
    pub local_time: String,
    pub timezone: String,
    /// The nominal slot in UTC.
    pub slot_at: DateTime<Utc>,
    /// When it is sent: after quiet hours and jitter.
    pub fire_at: DateTime<Utc>,
}

/// A preview: slots in order of `fire_at`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SopPreview)]
pub struct Preview {
    pub items: Vec<PreviewItem>,
    /// Relative steps fire per member join or group creation and are not listed.
    pub relative_steps: Vec<i32>,
    /// Whether the list was cut at 10,000 items.
    pub truncated: bool,
}

/// Most steps in a plan.
pub const MAX_STEPS: usize = 50;

impl UpdatePlan {
    /// Applies the change to `p` after checking the request's own fields
    /// (both dates when both are given: 422); returns the plan's steps (the
    /// new ones, else the stored ones) and their compiled timings.
    pub fn apply_to(self, p: &mut Plan) -> ApiResult<(Vec<StepInput>, Vec<Timing>)> {
        let mut c = Checks::new();
        if let Some(n) = &self.name {
            c.text("name", n, 1, 200);
            p.name = n.trim().to_owned();
        }
        if let Some(t) = self.target {
            check_target(&mut c, &t);
            p.target = t;
        }
        if let Some(Some(q)) = &self.quiet_hours {
            check_quiet(&mut c, q);
        }
        check_common(&mut c, self.jitter_seconds.unwrap_or(0), self.starts_on.flatten(), self.ends_on.flatten());
        crate::http::patch::apply(&mut p.campaign_id, self.campaign_id);
        crate::http::patch::apply(&mut p.connection_id, self.connection_id);
        crate::http::patch::apply(&mut p.quiet_hours, self.quiet_hours);
        crate::http::patch::apply(&mut p.starts_on, self.starts_on);
        crate::http::patch::apply(&mut p.ends_on, self.ends_on);
        p.jitter_seconds = self.jitter_seconds.unwrap_or(p.jitter_seconds);
        let steps: Vec<StepInput> = match self.steps {
            Some(s) => s,
            None => p.steps.iter().map(|s| StepInput { content_id: s.content_id, timing: s.timing.clone() }).collect(),
        };
        let timings = compile_steps(&mut c, &steps);
        c.finish()?;
        Ok((steps, timings))
    }
}

/// Checks the target shape.
pub fn check_target(c: &mut Checks, t: &PlanTarget) {
    let given = [t.layer_id.is_some(), t.group_ids.is_some(), t.tier.is_some()].iter().filter(|b| **b).count();
    if given != 1 {
        c.fail("target", "invalid", "give exactly one of layer_id, group_ids, tier");
    }
    if let Some(ids) = &t.group_ids {
        if ids.is_empty() || ids.len() > MAX_TARGET_GROUPS {
            c.fail("target.group_ids", "invalid", format!("must hold 1 to {MAX_TARGET_GROUPS} group ids"));
        }
    }
    if let Some(tier) = &t.tier {
        c.slug("target.tier", tier);
    }
}

/// Checks quiet hours.
pub fn check_quiet(c: &mut Checks, q: &QuietHours) {
    match (parse_hhmm(&q.start), parse_hhmm(&q.end)) {
        (None, _) => c.fail("quiet_hours.start", "invalid", "must be HH:MM"),
        (_, None) => c.fail("quiet_hours.end", "invalid", "must be HH:MM"),
        (Some(s), Some(e)) if s == e => c.fail("quiet_hours.end", "invalid", "must differ from start"),
        _ => {}
    }
}

/// Compiles every step's timing, naming `steps[i].timing...` on failure.
pub fn compile_steps(c: &mut Checks, steps: &[StepInput]) -> Vec<Timing> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        c.fail("steps", "invalid", format!("must hold 1 to {MAX_STEPS} steps"));
    }
    steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.timing.compile(&format!("steps[{i}].timing")) {
            Ok(t) => Some(t),
            Err(e) => {
                c.fail(e.field, &e.code, e.message);
                None
            }
        })
        .collect()
}

/// Checks the scalar fields shared by create and update.
pub fn check_common(c: &mut Checks, jitter: i32, starts: Option<NaiveDate>, ends: Option<NaiveDate>) {
    if !(0..=3600).contains(&jitter) {
        c.fail("jitter_seconds", "out_of_range", "must be 0-3600");
    }
    check_dates(c, starts, ends);
}

/// Checks that `ends_on` is not before `starts_on` (when both are known).
pub fn check_dates(c: &mut Checks, starts: Option<NaiveDate>, ends: Option<NaiveDate>) {
    if let (Some(s), Some(e)) = (starts, ends) {
        if e < s {
            c.fail("ends_on", "before_start", "must not be before starts_on");
        }
    }
}

impl CreatePlan {
    /// Validates the request's own fields (references are checked against the database later).
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 200);
        check_target(&mut c, &self.target);
        if let Some(q) = &self.quiet_hours {
            check_quiet(&mut c, q);
        }
        check_common(&mut c, self.jitter_seconds, self.starts_on, self.ends_on);
        if self.status == Some(PlanStatus::Archived) {
            c.fail("status", "invalid", "a new plan is active or paused");
        }
        compile_steps(&mut c, &self.steps);
        c.finish()
    }
}
