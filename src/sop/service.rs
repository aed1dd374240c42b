//! Plan writes that span tables (references, steps, schedules) and the preview.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgConnection;

use super::model::{Plan, PlanStatus, PlanTarget, Preview, PreviewItem, StepInput};
use super::schedule::{self, Compiled};
use super::timing::{Anchor, Timing};
use crate::clock::zone;
use crate::db::constraint;
use crate::error::FieldError;
use crate::ids::{CampaignId, ConnectionId, GroupId, WorkspaceId};

/// Why a plan write was refused (the HTTP edge maps each to its answer).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Records the plan names that are not in the workspace, each by field.
    #[error("a referenced record does not exist in this workspace")]
    Unknown(Vec<FieldError>),
    /// Steps whose content uses variables the step cannot fill: the first
    /// misfit's code, and every misfit's message.
    #[error("{message}")]
    Misfit { code: &'static str, message: String },
    #[error("a plan with this name exists")]
    NameTaken,
    /// Only one end given, and it does not fit the other one stored.
    #[error("ends_on must not be before starts_on (as stored, where not given)")]
    BeforeStart,
    #[error("sop plan not found")]
    NotFound,
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PlanError {
    /// The plan table's constraints.
    fn from(e: sqlx::Error) -> Self {
        match constraint(&e) {
            Some("sop_plans_name_key") => Self::NameTaken,
            Some("sop_plans_dates_check") => Self::BeforeStart,
            _ => Self::Database(e),
        }
    }
}

/// [`PlanError::Unknown`] naming every reference that is not in the
/// workspace, else [`PlanError::Misfit`] naming every step whose content uses
/// variables the step cannot fill.
pub async fn check_refs(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    target: &PlanTarget,
    campaign: Option<CampaignId>,
    connection: Option<ConnectionId>,
    steps: &[StepInput],
    timings: &[Timing],
) -> Result<(), PlanError> {
    // Unknown records answer 404; rules that depend on the stored contents'
    // variables answer 409 (the request is well-formed, the contents it
    // names do not fit it), each with its code.
    let mut errors = Vec::new();
    let mut misfits: Vec<(&'static str, String)> = Vec::new();
    let unknown = |f: String| FieldError::new(f, "unknown", "no such record in this workspace");
    if let Some(l) = target.layer_id {
        if crate::layers::repo::get(conn, ws, l).await?.is_none() {
            errors.push(unknown("target.layer_id".into()));
        }
    }
    if let Some(ids) = &target.group_ids {
        errors.extend(crate::groups::unknown_ids(conn, ws, ids, "target.group_ids").await?);
    }
    if let Some(tier) = &target.tier {
        if !crate::tiers::repo::key_exists(conn, ws, tier).await? {
            errors.push(unknown("target.tier".into()));
        }
    }
    if let Some(c) = campaign {
        if crate::contents::repo::campaign_vars(conn, ws, c).await?.is_none() {
            errors.push(unknown("campaign_id".into()));
        }
    }
    if let Some(c) = connection {
        if crate::connections::repo::get(conn, ws, c).await?.is_none() {
            errors.push(unknown("connection_id".into()));
        }
    }
    let ids: Vec<uuid::Uuid> = steps.iter().map(|s| s.content_id.0).collect();
    let contents = crate::contents::repo::get_many(conn, ws, &ids).await?;
    for (i, (step, timing)) in steps.iter().zip(timings).enumerate() {
        let field = format!("steps[{i}].content_id");
        let Some(c) = contents.iter().find(|c| c.id == step.content_id) else {
            errors.push(unknown(field));
            continue;
        };
        if c.variables.iter().any(|v| v.starts_with("member.")) && timing.anchor() != Some(Anchor::MemberJoined) {
            misfits.push(("member_variables", format!("{field}: member variables need an after_join step")));
        }
        if c.variables.iter().any(|v| crate::contents::template::needs_campaign(v)) && campaign.is_none() {
            misfits.push(("campaign_variables", format!("{field}: campaign variables need the plan's campaign_id")));
        }
    }
    if !errors.is_empty() {
        return Err(PlanError::Unknown(errors));
    }
    match misfits.first() {
        None => Ok(()),
        Some((code, _)) => Err(PlanError::Misfit {
            code,
            message: misfits.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "),
        }),
    }
}

/// Saves a plan (own columns, groups, steps) and, when active, syncs its
/// schedules from `now`: previous future slots are replaced, delivered ones stay.
pub async fn save(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: &Plan,
    old_steps: &[super::model::Step],
    steps: &[StepInput],
    now: DateTime<Utc>,
    new_plan: bool,
) -> Result<Plan, PlanError> {
    super::repo::upsert(conn, ws, plan, now, new_plan.then_some(now)).await?;
    let new: Vec<_> = steps.iter().map(|s| (s.content_id, s.timing.clone())).collect();
    super::repo::replace_steps(conn, ws, plan.id, old_steps, &new).await?;
    let saved = super::repo::get(conn, ws, plan.id, false).await?.ok_or(PlanError::NotFound)?;
    if saved.status == PlanStatus::Active {
        let anchor_from = super::repo::anchor_from(conn, ws, plan.id).await?;
        schedule::sync_plan(conn, ws, &Compiled::new(saved.clone())?, now, anchor_from, now).await?;
    }
    Ok(saved)
}

/// Most preview items.
pub const PREVIEW_LIMIT: usize = 10_000;

/// Every (group, step, slot) of recurring and one-off steps whose local date
/// lies in `[from, from + days)`, in each group's timezone, computed exactly
/// as the scheduler will. Relative steps depend on future joins and are not listed.
pub async fn preview(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: Plan,
    from: NaiveDate,
    days: u32,
    only: Option<GroupId>,
    now: DateTime<Utc>,
) -> anyhow::Result<Preview> {
    let c = Compiled::new(plan)?;
    let relative_steps =
        c.plan.steps.iter().zip(&c.timings).filter(|(_, t)| t.anchor().is_some()).map(|(s, _)| s.index).collect();
    let mut targets = schedule::targets(conn, ws, &c.plan.target).await?;
    if let Some(g) = only {
        targets.retain(|t| t.id == g);
    }
    let until = from.checked_add_signed(Duration::days(i64::from(days))).unwrap_or(from);
    let mut items = Vec::new();
    let mut truncated = false;
    for g in &targets {
        let tz = zone(&g.timezone);
        let start = from.and_hms_opt(0, 0, 0).map(|d| super::timing::resolve(tz, d)).unwrap_or(now);
        for (i, (step, t)) in c.plan.steps.iter().zip(&c.timings).enumerate() {
            if t.anchor().is_some() {
                continue;
            }
            let mut after = start.max(now) - Duration::seconds(1);
            while let Some(slot) = c.next_slot(i, tz, after) {
                let local = slot.with_timezone(&tz).naive_local();
                if local.date() >= until {
                    break;
                }
                if items.len() >= PREVIEW_LIMIT {
                    truncated = true;
                    break;
                }
                items.push(PreviewItem {
                    group_id: g.id,
                    step_id: step.id,
                    step_index: step.index,
                    local_time: local.format("%Y-%m-%dT%H:%M").to_string(),
                    timezone: g.timezone.clone(),
                    slot_at: slot,
                    fire_at: c.fire_at(i, tz, g.id.0, uuid::Uuid::nil(), slot),
                });
                after = slot;
            }
        }
    }
    items.sort_by_key(|i| (i.fire_at, i.group_id, i.step_index));
    Ok(Preview { items, relative_steps, truncated })
}
