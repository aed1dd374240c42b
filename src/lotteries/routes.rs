//! `/v1/lotteries`: the lottery of a `lottery` campaign, entries, the draw
//! and its canonical entry list.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{mask, EnterLottery, Lottery, LotteryDraw, LotteryEntries, LotteryStatus, LotteryWinner, Unawarded};
use super::{draw, repo, service};
use crate::campaigns::lottery_settings::LotterySettings;
use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::{Auth, Role};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, WorkspaceId};
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_lotteries))
        .routes(routes!(get_lottery))
        .routes(routes!(enter_lottery))
        .routes(routes!(get_lottery_draw))
        .routes(routes!(get_lottery_entry_list))
}

async fn campaign(conn: &mut sqlx::PgConnection, ws: WorkspaceId, id: Uuid) -> ApiResult<(Campaign, LotterySettings)> {
    let c = crate::campaigns::repo::get(conn, ws, CampaignId(id), false)
        .await?
        .filter(|c| c.kind == CampaignKind::Lottery)
        .ok_or(ApiError::NotFound("lottery"))?;
    let s = LotterySettings::from_stored(&c.settings);
    Ok((c, s))
}

async fn view(
    conn: &mut sqlx::PgConnection,
    ws: WorkspaceId,
    c: Campaign,
    s: LotterySettings,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Lottery> {
    let l = service::ensure(conn, ws, c.id.0, now).await.map_err(ApiError::Internal)?;
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let drawn = l.status == "drawn";
    let (entrants, entries) = if drawn {
        (l.entrant_count.unwrap_or(0), l.entry_count.unwrap_or(0))
    } else {
        (repo::entrant_count(conn, ws, c.id.0).await?, repo::total(conn, ws, c.id.0, service::rule(&s)).await?)
    };
    Ok(Lottery {
        id: c.id.0,
        name: c.name,
        status: if drawn { LotteryStatus::Drawn } else { LotteryStatus::Open },
        draw_at: l.draw_at.or_else(|| service::draw_at(&s, crate::clock::zone(&w.timezone))),
        commitment: l.commitment,
        one_prize_per_member: s.one_prize_per_member,
        prizes: s.prizes,
        entrants,
        entries,
        drawn_at: l.drawn_at,
        late: l.late,
    })
}

/// Lotteries (campaigns of kind `lottery`), newest first.
#[utoipa::path(get, path = "/lotteries", tag = "lotteries", params(crate::http::pagination::PageQuery),
    responses((status = 200, body = Page<Lottery>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_lotteries(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<crate::http::pagination::PageQuery>,
) -> ApiResult<Json<Page<Lottery>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let ids = repo::list(&mut conn, ws, page.after, page.fetch_limit()).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (c, s) = campaign(&mut conn, ws, id).await?;
        out.push(view(&mut conn, ws, c, s, now).await?);
    }
    Ok(Json(Page::from_rows(out, page, |l| l.id)))
}

/// A lottery: its prizes, entries so far and the commitment to its seed
/// (made, with the seed, the first time the lottery is read or entered).
#[utoipa::path(get, path = "/lotteries/{id}", tag = "lotteries", params(("id" = Uuid, Path, description = "The lottery's campaign")),
    responses((status = 200, body = Lottery), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_lottery(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Lottery>> {
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let (c, s) = campaign(&mut conn, ws, id).await?;
    Ok(Json(view(&mut conn, ws, c, s, now).await?))
}

/// Enter a member (201; 200 when they had entered): their entries are the
/// lottery's `per_member` plus `per_qualified_invite` per invite qualified
/// through its invite codes, at most `max_per_member`. 409 `not_running`,
/// `closed` (the draw time has come), `not_eligible`, `no_draw_time`.
#[utoipa::path(post, path = "/lotteries/{id}/entries", tag = "lotteries", params(("id" = Uuid, Path)),
    request_body = EnterLottery,
    responses((status = 201, body = LotteryEntries), (status = 200, body = LotteryEntries), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn enter_lottery(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<EnterLottery>,
) -> ApiResult<(StatusCode, Json<LotteryEntries>)> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let (c, s) = campaign(&mut tx, ws, id).await?;
    let m = crate::members::repo::get(&mut tx, ws, body.member_id)
        .await?
        .filter(|m| m.erased_at.is_none())
        .ok_or_else(|| ApiError::unknown("member_id", "no such member in this workspace"))?;
    if c.status != CampaignStatus::Running {
        return Err(ApiError::conflict("not_running", "the lottery's campaign is not running"));
    }
    let w = crate::workspaces::repo::get(&mut tx, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let Some(at) = service::draw_at(&s, crate::clock::zone(&w.timezone)).filter(|_| !s.prizes.is_empty()) else {
        return Err(ApiError::conflict("no_draw_time", "the lottery has no draw time or no prizes yet"));
    };
    // The commitment exists before the first entry; a drawn lottery is closed.
    let l = service::ensure(&mut tx, ws, c.id.0, now).await.map_err(ApiError::Internal)?;
    if l.status != "open" || now >= at {
        return Err(ApiError::conflict("closed", "the draw time has come: no more entries"));
    }
    if !service::eligible(&mut tx, ws, s.eligible.as_ref(), m.id, now).await? {
        return Err(ApiError::conflict("not_eligible", "the member may not enter this lottery"));
    }
    let made = repo::enter(&mut tx, ws, c.id.0, m.id.0, now).await?;
    let counts = repo::counts(&mut tx, ws, c.id.0, service::rule(&s), Some(m.id.0)).await?;
    let invites = repo::qualified_invites(&mut tx, ws, c.id.0, m.id.0).await?;
    tx.commit().await?;
    let e = LotteryEntries {
        lottery_id: c.id.0,
        member_id: m.id,
        entered: true,
        qualified_invites: invites,
        entries: counts.first().map(|c| c.1 as i64).unwrap_or(0),
    };
    Ok((if made { StatusCode::CREATED } else { StatusCode::OK }, Json(e)))
}

/// The draw: the revealed seed, the digest and URL of the canonical entry
/// list and the winners (docs/lottery.md recomputes them). Before the draw:
/// `status: open`, the commitment, and no seed, list or winners.
#[utoipa::path(get, path = "/lotteries/{id}/draw", tag = "lotteries", params(("id" = Uuid, Path)),
    responses((status = 200, body = LotteryDraw), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_lottery_draw(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<LotteryDraw>> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let (c, s) = campaign(&mut conn, ws, id).await?;
    let l = service::ensure(&mut conn, ws, c.id.0, state.clock.now()).await.map_err(ApiError::Internal)?;
    let drawn = l.status == "drawn";
    let rows = repo::winners(&mut conn, ws, c.id.0).await?;
    let mut given = vec![0i64; s.prizes.len()];
    let winners = rows
        .into_iter()
        .map(|(_, member, name, index, prize, entry_no, outcome)| {
            if let Some(g) = given.get_mut(index as usize) {
                *g += 1;
            }
            LotteryWinner {
                member_id: member,
                prize,
                prize_index: index,
                entry_no,
                masked_name: mask(&name),
                delivered: outcome,
            }
        })
        .collect();
    let unawarded = s
        .prizes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let left = p.quantity as i64 - given[i];
            (drawn && left > 0).then(|| Unawarded { prize_index: i as i32, prize: p.name.clone(), quantity: left })
        })
        .collect();
    Ok(Json(LotteryDraw {
        lottery_id: c.id.0,
        status: if drawn { LotteryStatus::Drawn } else { LotteryStatus::Open },
        // Revealed only by the draw.
        seed: drawn.then(|| hex::encode(&l.seed)),
        commitment: l.commitment,
        entries_digest: l.entries_digest,
        entries_url: drawn.then(|| format!("/v1/lotteries/{}/draw/entries", c.id.0)),
        entry_count: l.entry_count.unwrap_or(0),
        entrant_count: l.entrant_count.unwrap_or(0),
        draw_at: l.draw_at,
        drawn_at: l.drawn_at,
        late: l.late,
        one_prize_per_member: s.one_prize_per_member,
        winners,
        unawarded,
    }))
}

/// The canonical entry list the draw froze: one `<member_id>:<entry_no>`
/// line per entry, members by id, entries 1..n (its sha256 is
/// `entries_digest`). Streamed; empty before the draw.
#[utoipa::path(get, path = "/lotteries/{id}/draw/entries", tag = "lotteries", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_lottery_entry_list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let (c, _) = campaign(&mut conn, ws, id).await?;
    // Before the draw nothing is frozen: the list is empty.
    let drawn = repo::get(&mut conn, ws, c.id.0, false).await?.is_some_and(|l| l.status == "drawn");
    const PAGE: i64 = 5000;
    let first = if drawn { repo::frozen(&mut conn, ws, c.id.0, None, PAGE).await? } else { vec![] };
    drop(conn);
    let pool = state.pool.clone();
    let campaign = c.id.0;
    // State: the next page to write (Err: reading it failed — the transfer
    // is cut short, never passed off as whole).
    let body = stream::unfold(Some(Ok(first)), move |page: Option<Result<Vec<(Uuid, i32)>, ()>>| {
        let pool = pool.clone();
        async move {
            let page = match page? {
                Ok(p) if p.is_empty() => return None,
                Ok(p) => p,
                Err(()) => return Some((Err(std::io::Error::other("reading the entry list failed")), None)),
            };
            let mut text = String::with_capacity(page.len() * 40);
            for (m, n) in &page {
                for no in 1..=*n as u32 {
                    text.push_str(&draw::line(m, no));
                    text.push('\n');
                }
            }
            let next = if (page.len() as i64) < PAGE {
                Ok(vec![])
            } else {
                let after = page.last().map(|p| p.0);
                match pool.acquire().await {
                    Ok(mut conn) => repo::frozen(&mut conn, ws, campaign, after, PAGE).await.map_err(|_| ()),
                    Err(_) => Err(()),
                }
            };
            Some((Ok::<_, std::io::Error>(text), Some(next)))
        }
    });
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], Body::from_stream(body)).into_response())
}
