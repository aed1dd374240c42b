//! `/v1/tier-rules` and `/v1/tier-rules/evaluate`.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{Evaluate, Evaluation, TierRules};
use super::{repo, service};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope, FieldError};
use crate::http::extract::ApiJson;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(get_tier_rules, put_tier_rules)).routes(routes!(evaluate_tier_rules))
}

fn empty() -> TierRules {
    TierRules { rules: vec![], default_tier: None, downgrade_grace_days: 0, manual_lock_days: 0, enabled: true }
}

/// The workspace's tier rules (none yet: an empty set).
#[utoipa::path(get, path = "/tier-rules", tag = "tiers",
    responses((status = 200, body = TierRules)), security(("bearer" = [])))]
pub async fn get_tier_rules(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<TierRules>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id).await?.map(|(c, _)| c).unwrap_or_else(empty)))
}

/// Replace the tier rules (admin). Rules without an id get one.
#[utoipa::path(put, path = "/tier-rules", tag = "tiers", request_body = TierRules,
    responses((status = 200, body = TierRules), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn put_tier_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(mut body): ApiJson<TierRules>,
) -> ApiResult<Json<TierRules>> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut errors = Vec::new();
    for (i, r) in body.rules.iter().enumerate() {
        if !crate::tiers::repo::key_exists(&mut tx, ws, &r.tier).await? {
            errors.push(FieldError::new(format!("rules[{i}].tier"), "unknown", "no such tier in this workspace"));
        }
    }
    if let Some(t) = &body.default_tier {
        if !crate::tiers::repo::key_exists(&mut tx, ws, t).await? {
            errors.push(FieldError::new("default_tier", "unknown", "no such tier in this workspace"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Unknown(errors));
    }
    for r in body.rules.iter_mut() {
        r.id.get_or_insert_with(uuid::Uuid::now_v7);
    }
    repo::put(&mut tx, ws, &body).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "tier_rules.update", "workspace", ws, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Json(body))
}

/// Evaluate the tier rules now: with `dry_run`, the members whose tier
/// would change, from → to, and why; without, the changes are made
/// (admin), as the nightly evaluation does.
#[utoipa::path(post, path = "/tier-rules/evaluate", tag = "tiers", request_body = Evaluate,
    responses((status = 200, body = Evaluation), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn evaluate_tier_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Evaluate>,
) -> ApiResult<Json<Evaluation>> {
    auth.require(if body.dry_run { Role::Operator } else { Role::Admin })?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let (cfg, _) = repo::get(&mut tx, ws).await?.ok_or(ApiError::NotFound("tier rules"))?;
    let e = service::evaluate(&mut tx, ws, &cfg, now, body.dry_run).await?;
    if !body.dry_run {
        let detail = serde_json::json!({"changed": e.changed});
        audit::record(&mut tx, ws, Actor::from(&auth), "tier_rules.evaluate", "workspace", ws, detail).await?;
    }
    tx.commit().await?;
    Ok(Json(e))
}
