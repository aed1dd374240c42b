//! `/v1/users`, `/v1/invitations`, `/v1/session` (signed in) and the three
//! public doors: `POST /v1/sessions`, `/v1/invitations/accept`,
//! `/v1/password-resets/accept`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    AcceptInvitation, ChangePassword, InvitationCreated, InvitationView, InviteUser, ResetPassword, SessionView,
    SignIn, SwitchWorkspace, UpdateUser, UserView,
};
use super::repo;
use super::service::{self, CurrentSession, Opened};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::{Auth, Role};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Peer};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::{InvitationId, UserId};
use crate::state::AppState;

/// Routes that need a key or a session.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_users, invite_user))
        .routes(routes!(update_user))
        .routes(routes!(list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(get_session, sign_out))
        .routes(routes!(switch_workspace))
        .routes(routes!(change_password))
}

/// The public doors (no key, no session).
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(sign_in)).routes(routes!(accept_invitation)).routes(routes!(reset_password))
}

fn with_cookie(state: &AppState, headers: &HeaderMap, opened: Opened) -> Response {
    let max_age = opened.view.expires_at - state.clock.now();
    let cookie = service::session_cookie(&state.settings, headers, Some(&opened.token), max_age);
    (StatusCode::CREATED, [(header::SET_COOKIE, cookie)], Json(opened.view)).into_response()
}

fn session_of(s: Option<Extension<CurrentSession>>) -> ApiResult<CurrentSession> {
    s.map(|Extension(s)| s).ok_or(ApiError::NotFound("session (this request used an API key)"))
}

/// Sign in with e-mail and password: sets the session cookie. A wrong
/// address and a wrong password get the same answer; failures are limited
/// per account and per client address.
#[utoipa::path(post, path = "/sessions", tag = "users", request_body = SignIn,
    responses((status = 201, body = SessionView, headers(("Set-Cookie" = String, description = "shequn_session=…; HttpOnly; SameSite=Lax"))),
        (status = 401, body = ErrorEnvelope, description = "`invalid_credentials`"),
        (status = 403, body = ErrorEnvelope, description = "`no_workspace`: the account may open no (or not that) workspace"),
        (status = 429, body = ErrorEnvelope, description = "`too_many_attempts`")))]
pub async fn sign_in(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    body.validate()?;
    let address = service::client_address(&state.settings, &headers, peer);
    let opened = service::sign_in(&state, &body.email, &body.password, body.workspace_id, address.as_deref()).await?;
    Ok(with_cookie(&state, &headers, opened))
}

/// Accept an invitation: creates the account (or adds the workspace to an
/// existing one, whose password is then required) and signs in.
#[utoipa::path(post, path = "/invitations/accept", tag = "users", request_body = AcceptInvitation,
    responses((status = 201, body = SessionView), (status = 409, body = ErrorEnvelope),
        (status = 410, body = ErrorEnvelope, description = "`link_invalid`: unknown, used, revoked or expired")))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> ApiResult<Response> {
    body.validate()?;
    let opened =
        service::accept(&state, &body.token, body.email.as_deref(), &body.password, body.display_name.as_deref())
            .await?;
    Ok(with_cookie(&state, &headers, opened))
}

/// Set a new password with a reset link's token (`shequn user
/// reset-password`); every session of the account ends.
#[utoipa::path(post, path = "/password-resets/accept", tag = "users", request_body = ResetPassword,
    responses((status = 204),
        (status = 410, body = ErrorEnvelope, description = "`link_invalid`: unknown, used or expired")))]
pub async fn reset_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    body.validate()?;
    service::reset(&state, &body.token, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current session: the person, the open workspace and role, the
/// workspaces to switch to, and the CSRF token for writes.
#[utoipa::path(get, path = "/session", tag = "users",
    responses((status = 200, body = SessionView), (status = 404, body = ErrorEnvelope, description = "an API key, not a session")),
    security(("bearer" = [])))]
pub async fn get_session(
    State(state): State<AppState>,
    session: Option<Extension<CurrentSession>>,
) -> ApiResult<Json<SessionView>> {
    let s = session_of(session)?;
    Ok(Json(service::current(&state, s.0).await?))
}

/// Sign out: the session ends and the cookie is cleared.
#[utoipa::path(delete, path = "/session", tag = "users",
    responses((status = 204), (status = 404, body = ErrorEnvelope, description = "an API key, not a session")),
    security(("bearer" = [])))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Option<Extension<CurrentSession>>,
) -> ApiResult<Response> {
    let s = session_of(session)?;
    service::sign_out(&state, s.0).await?;
    let cookie = service::session_cookie(&state.settings, &headers, None, Duration::zero());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Open another workspace of the person.
#[utoipa::path(post, path = "/session/workspace", tag = "users", request_body = SwitchWorkspace,
    responses((status = 200, body = SessionView), (status = 403, body = ErrorEnvelope, description = "`no_workspace`")),
    security(("bearer" = [])))]
pub async fn switch_workspace(
    State(state): State<AppState>,
    auth: Auth,
    session: Option<Extension<CurrentSession>>,
    ApiJson(body): ApiJson<SwitchWorkspace>,
) -> ApiResult<Json<SessionView>> {
    let s = session_of(session)?;
    Ok(Json(service::switch(&state, s.0, &auth, body.workspace_id).await?))
}

/// Change the password; the person's other sessions end.
#[utoipa::path(post, path = "/session/password", tag = "users", request_body = ChangePassword,
    responses((status = 204)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    session: Option<Extension<CurrentSession>>,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    body.validate()?;
    let s = session_of(session)?;
    service::change_password(&state, s.0, &auth, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's people (admin or owner).
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Page<UserView>)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |u| u.id.0)))
}

/// Invite a person (admin or owner; only owners invite owners). The link
/// is in this answer only; Shequn sends no e-mail.
#[utoipa::path(post, path = "/users", tag = "users", request_body = InviteUser,
    responses((status = 201, body = InvitationCreated)),
    security(("bearer" = [])))]
pub async fn invite_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<InviteUser>,
) -> ApiResult<(StatusCode, Json<InvitationCreated>)> {
    auth.require(Role::Admin)?;
    if body.role == Role::Owner {
        auth.require(Role::Owner)?;
    }
    body.validate()?;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let base = state.settings.public_url(state.settings.server.port);
    let created =
        service::invite(&mut tx, &state.settings, &base, auth.workspace_id, Some(&body.email), body.role, now).await?;
    let id = created.invitation.id;
    let details = serde_json::json!({"role": body.role.as_str()});
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "user.invite", "invitation", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change a person's role, or disable or enable them in this workspace
/// (admin or owner; only owners touch owners). Disabling ends their
/// sessions here. Nobody changes their own place, and the last active
/// owner stays one.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserView),
        (status = 409, body = ErrorEnvelope, description = "`own_account`, `last_owner`")),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    if auth.user_id() == Some(id) {
        return Err(ApiError::conflict("own_account", "nobody changes their own role or disables themselves"));
    }
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let owners = repo::lock_active_owners(&mut tx, ws).await?;
    let before = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("user"))?;
    if before.role == Role::Owner || body.role == Some(Role::Owner) {
        auth.require(Role::Owner)?;
    }
    let stays_owner =
        body.role.unwrap_or(before.role) == Role::Owner && !body.disabled.unwrap_or(before.status == "disabled");
    if owners == [id] && !stays_owner {
        return Err(ApiError::conflict("last_owner", "the last active owner stays an active owner"));
    }
    repo::update_membership(&mut tx, ws, id, body.role, body.disabled, now).await?;
    if body.disabled == Some(true) {
        repo::revoke_sessions(&mut tx, id, Some(ws), None, now).await?;
    }
    let details = serde_json::json!({"role": body.role.map(Role::as_str), "disabled": body.disabled});
    audit::record(&mut tx, ws, Actor::from(&auth), "user.update", "user", id, details).await?;
    let after = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(Json(after))
}

/// The workspace's invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<InvitationView>,
}

/// The workspace's invitations, newest first (admin or owner).
#[utoipa::path(get, path = "/invitations", tag = "users",
    responses((status = 200, body = InvitationList)),
    security(("bearer" = [])))]
pub async fn list_invitations(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<InvitationList>> {
    auth.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let now = state.clock.now();
    let rows = repo::invitations(&mut conn, auth.workspace_id).await?;
    let items = rows.iter().map(|r| service::invitation_view(r, now)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Json(InvitationList { items }))
}

/// Revoke an invitation (admin or owner): its link stops working.
#[utoipa::path(delete, path = "/invitations/{id}", tag = "users", params(("id" = InvitationId, Path)),
    responses((status = 204)),
    security(("bearer" = [])))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::revoke_invitation(&mut tx, auth.workspace_id, id, state.clock.now()).await? {
        return Err(ApiError::NotFound("invitation"));
    }
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "invitation.revoke",
        "invitation",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
