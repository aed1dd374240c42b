//! `GET /v1/members/{id}/referral-tree`: who a member invited, and whom
//! those invited, level by level (one query per level).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use uuid::Uuid;

use super::model::{ReferralTree, TreeNode, TreeQuery};
use super::repo::{self, Child};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::Auth;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::ids::MemberId;
use crate::state::AppState;

/// Most members a tree shows below its root.
const MAX_NODES: i64 = 2000;

/// A member's referral tree: those they invited (pending, flagged and
/// qualified referrals of any campaign, or of `campaign_id`), `depth`
/// levels down.
#[utoipa::path(get, path = "/members/{id}/referral-tree", tag = "referrals", params(("id" = MemberId, Path), TreeQuery),
    responses((status = 200, body = ReferralTree), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_referral_tree(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<TreeQuery>,
) -> ApiResult<Json<ReferralTree>> {
    let depth = q.depth.unwrap_or(3);
    if !(1..=5).contains(&depth) {
        return Err(ApiError::field("depth", "invalid", "must be 1 to 5"));
    }
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let m = crate::members::repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    let mut levels: Vec<Vec<Child>> = Vec::new();
    let mut parents = vec![id.0];
    let mut seen = std::collections::HashSet::from([id.0]);
    let (mut count, mut truncated) = (0i64, false);
    for _ in 0..depth {
        if parents.is_empty() {
            break;
        }
        let left = MAX_NODES - count;
        let mut level = repo::children(&mut conn, ws, &parents, q.campaign_id, left + 1).await?;
        if level.len() as i64 > left {
            level.truncate(left as usize);
            truncated = true;
        }
        // A member reached twice (invited in two campaigns) shows once.
        level.retain(|c| seen.insert(c.1));
        count += level.len() as i64;
        parents = level.iter().map(|c| c.1).collect();
        levels.push(level);
        if truncated {
            break;
        }
    }
    let root = TreeNode {
        member_id: m.id,
        display_name: m.display_name,
        referral_id: None,
        campaign_id: None,
        status: None,
        joined_at: None,
        children: build(id.0, &levels, 0),
    };
    Ok(Json(ReferralTree { root, depth, members: count, truncated }))
}

fn build(parent: Uuid, levels: &[Vec<Child>], at: usize) -> Vec<TreeNode> {
    let Some(level) = levels.get(at) else { return vec![] };
    let by_parent: HashMap<Uuid, Vec<&Child>> = level.iter().fold(HashMap::new(), |mut m, c| {
        m.entry(c.0).or_default().push(c);
        m
    });
    by_parent
        .get(&parent)
        .map(|kids| {
            kids.iter()
                .map(|&&(_, member, ref name, referral, campaign, status, joined_at)| TreeNode {
                    member_id: MemberId(member),
                    display_name: name.clone(),
                    referral_id: Some(referral),
                    campaign_id: Some(campaign),
                    status: Some(status),
                    joined_at: Some(joined_at),
                    children: build(member, levels, at + 1),
                })
                .collect()
        })
        .unwrap_or_default()
}
