//! Signing in and out, sessions, invitations and password resets.
//!
//! A session is a random secret in an `HttpOnly`, `SameSite=Lax` cookie
//! (`Secure` when served over HTTPS); the database holds its SHA-256, its
//! absolute end and its last use (the idle end), and a revocation. Every
//! write made with the cookie must carry the session's CSRF token in
//! `X-CSRF-Token`. Failed sign-ins are counted per account and per client
//! address; a wrong e-mail and a wrong password get the same answer, in the
//! same time.

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::model::{
    generate_secret, hash_secret, looks_like_secret, normal_email, InvitationCreated, InvitationView, Me, SessionView,
    WorkspaceChoice, CSRF_HEADER, SESSION_COOKIE,
};
use super::password;
use super::repo::{self, InvitationRow, Membership, NewSession, UserRow};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{Auth, Principal, Role};
use crate::ids::{InvitationId, SessionId, UserId, WorkspaceId};
use crate::state::AppState;

/// The session a cookie-authenticated request runs in (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct CurrentSession(pub SessionId);

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::refused(StatusCode::UNAUTHORIZED, code, message)
}

fn bad_credentials() -> ApiError {
    unauthorized("invalid_credentials", "wrong e-mail address or password")
}

/// The value of cookie `name` in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether cookies must be `Secure`: the public URL is HTTPS, or a trusted
/// proxy says the request came over HTTPS.
fn secure(settings: &Settings, headers: &HeaderMap) -> bool {
    settings.server.public_url.starts_with("https://")
        || (settings.auth.trust_forwarded_for
            && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https"))
}

/// The `Set-Cookie` value of a new session (or, with None, of signing out).
pub fn session_cookie(settings: &Settings, headers: &HeaderMap, token: Option<&str>, max_age: Duration) -> String {
    let secure = if secure(settings, headers) { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            max_age.num_seconds().max(0)
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// The client's address: the peer, or with `auth.trust_forwarded_for` the
/// first `X-Forwarded-For` entry.
pub fn client_address(settings: &Settings, headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> Option<String> {
    if settings.auth.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .and_then(|v| v.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    peer.map(|p| p.ip().to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves a session cookie into the caller, checking expiry, the person's
/// place in the workspace and, for writes, the CSRF token.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(Auth, SessionId), ApiError> {
    if !looks_like_secret(token) {
        return Err(ApiError::Unauthorized);
    }
    let mut conn = state.pool.acquire().await?;
    let s = repo::session(&mut conn, &hash_secret(token)).await?.ok_or(ApiError::Unauthorized)?;
    let now = state.clock.now();
    let idle = Duration::minutes(state.settings.auth.session_idle_minutes);
    if now >= s.expires_at || now - s.last_seen_at >= idle {
        return Err(unauthorized("session_expired", "the session has expired: sign in again"));
    }
    let role = match (s.role, s.disabled) {
        (Some(r), false) => r,
        _ => return Err(unauthorized("session_ended", "this account may no longer open this workspace")),
    };
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !constant_time_eq(sent, s.csrf_token.as_bytes()) {
            return Err(ApiError::refused(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "a write with the session cookie must carry the session's X-CSRF-Token",
            ));
        }
    }
    if now - s.last_seen_at > Duration::seconds(60) {
        repo::touch_session(&mut conn, s.id, now).await?;
    }
    Ok((Auth { workspace_id: s.workspace, principal: Principal::User(s.user), role }, s.id))
}

fn throttle_subjects(email: &str, address: Option<&str>) -> (String, Option<String>) {
    (format!("account:{}", hex::encode(hash_secret(email))), address.map(|a| format!("address:{a}")))
}

/// A session just made: its secret and what the console reads.
#[derive(Debug)]
pub struct Opened {
    pub token: String,
    pub view: SessionView,
}

/// Signs a person in with e-mail and password.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    pass: &str,
    ws: Option<WorkspaceId>,
    address: Option<&str>,
) -> ApiResult<Opened> {
    let auth = &state.settings.auth;
    let email = normal_email(email);
    let (account, addr) = throttle_subjects(&email, address);
    let subjects: Vec<String> = std::iter::once(account.clone()).chain(addr.clone()).collect();
    let mut conn = state.pool.acquire().await?;
    let now = state.clock.now();
    if let Some(until) = repo::locked_until(&mut conn, &subjects, now).await? {
        let minutes = (until - now).num_minutes() + 1;
        return Err(ApiError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed sign-ins: try again in {minutes} minutes"),
        ));
    }
    let user = repo::user_by_email(&mut conn, &email).await?;
    let ok = password::verify(user.as_ref().and_then(|u| u.password_hash.clone()), pass.to_owned()).await;
    let window = Duration::minutes(auth.login_window_minutes);
    let Some(user) = user.filter(|_| ok) else {
        repo::count_failure(&mut conn, &account, now, window, auth.login_failures_per_account).await?;
        if let Some(a) = &addr {
            repo::count_failure(&mut conn, a, now, window, auth.login_failures_per_address).await?;
        }
        tracing::info!("failed sign-in");
        return Err(bad_credentials());
    };
    repo::clear_failures(&mut conn, &account).await?;
    let places = repo::memberships(&mut conn, user.id).await?;
    let place = pick(&places, ws)?;
    open(&mut conn, state, &user, &places, place.workspace_id, now).await
}

/// The workspace to open: the one asked for, else the first active one.
fn pick(places: &[Membership], ws: Option<WorkspaceId>) -> ApiResult<&Membership> {
    let mut active = places.iter().filter(|m| !m.disabled);
    match ws {
        Some(w) => active.find(|m| m.workspace_id == w).ok_or_else(|| {
            ApiError::refused(StatusCode::FORBIDDEN, "no_workspace", "this account may not open that workspace")
        }),
        None => active.next().ok_or_else(|| {
            ApiError::refused(StatusCode::FORBIDDEN, "no_workspace", "this account may open no workspace")
        }),
    }
}

/// Creates a session of `user` in `ws`.
async fn open(
    conn: &mut PgConnection,
    state: &AppState,
    user: &UserRow,
    places: &[Membership],
    ws: WorkspaceId,
    now: DateTime<Utc>,
) -> ApiResult<Opened> {
    let token = generate_secret()?;
    let csrf = generate_secret()?;
    let expires_at = now + Duration::hours(state.settings.auth.session_max_hours);
    let hash = hash_secret(&token);
    let s = NewSession {
        id: SessionId::new(),
        token_hash: &hash,
        user: user.id,
        workspace: ws,
        csrf_token: &csrf,
        now,
        expires_at,
    };
    repo::insert_session(conn, &s).await?;
    let view = view(state, user, places, ws, csrf, expires_at)?;
    Ok(Opened { token, view })
}

fn view(
    state: &AppState,
    user: &UserRow,
    places: &[Membership],
    ws: WorkspaceId,
    csrf_token: String,
    expires_at: DateTime<Utc>,
) -> ApiResult<SessionView> {
    let choices: Vec<WorkspaceChoice> = places
        .iter()
        .filter(|m| !m.disabled)
        .map(|m| WorkspaceChoice { id: m.workspace_id, name: m.workspace_name.clone(), role: m.role })
        .collect();
    let workspace = choices.iter().find(|c| c.id == ws).cloned().ok_or(ApiError::Unauthorized)?;
    Ok(SessionView {
        user: Me { id: user.id, email: user.email.clone(), display_name: user.display_name.clone() },
        workspace,
        workspaces: choices,
        csrf_token,
        expires_at,
        idle_minutes: state.settings.auth.session_idle_minutes,
    })
}

/// What the console reads about the current session.
pub async fn current(state: &AppState, session: SessionId) -> ApiResult<SessionView> {
    let mut conn = state.pool.acquire().await?;
    let (user, ws, csrf, expires_at) = repo::session_by_id(&mut conn, session).await?.ok_or(ApiError::Unauthorized)?;
    let u = repo::user(&mut conn, user).await?.ok_or(ApiError::Unauthorized)?;
    let places = repo::memberships(&mut conn, user).await?;
    view(state, &u, &places, ws, csrf, expires_at)
}

/// Moves the session to another workspace of the person.
pub async fn switch(state: &AppState, session: SessionId, auth: &Auth, ws: WorkspaceId) -> ApiResult<SessionView> {
    let user = auth.user_id().ok_or(ApiError::Forbidden)?;
    let mut conn = state.pool.acquire().await?;
    let places = repo::memberships(&mut conn, user).await?;
    let place = pick(&places, Some(ws))?;
    repo::switch_session(&mut conn, session, place.workspace_id).await?;
    drop(conn);
    current(state, session).await
}

/// Changes the person's password; every other session of theirs ends.
pub async fn change_password(
    state: &AppState,
    session: SessionId,
    auth: &Auth,
    current_password: &str,
    new_password: &str,
) -> ApiResult<()> {
    let user = auth.user_id().ok_or(ApiError::Forbidden)?;
    let mut conn = state.pool.acquire().await?;
    let u = repo::user(&mut conn, user).await?.ok_or(ApiError::Unauthorized)?;
    if !password::verify(u.password_hash.clone(), current_password.to_owned()).await {
        return Err(ApiError::field("current_password", "invalid", "is not the account's password"));
    }
    let hash = new_hash(state, new_password, &u.email, "new_password").await?;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::set_password(&mut tx, user, &hash, now).await?;
    repo::revoke_sessions(&mut tx, user, None, Some(session), now).await?;
    tx.commit().await?;
    Ok(())
}

async fn new_hash(state: &AppState, pass: &str, email: &str, field: &str) -> ApiResult<String> {
    if let Err(why) = password::check_policy(pass, email, state.settings.auth.password_min_length) {
        return Err(ApiError::field(field, "weak_password", why));
    }
    Ok(password::hash(pass.to_owned()).await?)
}

/// Ends a session.
pub async fn sign_out(state: &AppState, session: SessionId) -> ApiResult<()> {
    let mut conn = state.pool.acquire().await?;
    repo::revoke_session(&mut conn, session, state.clock.now()).await?;
    Ok(())
}

/// The console page that takes a one-time link's token, under `base`
/// (the server's public URL).
fn link(base: &str, page: &str, token: &str) -> String {
    format!("{}/#/{page}?token={token}", base.trim_end_matches('/'))
}

/// Invites a person (`email`, or the one who accepts when None) to `ws`
/// with `role`; the link is shown once.
pub async fn invite(
    conn: &mut PgConnection,
    settings: &Settings,
    base: &str,
    ws: WorkspaceId,
    email: Option<&str>,
    role: Role,
    now: DateTime<Utc>,
) -> anyhow::Result<InvitationCreated> {
    let token = generate_secret()?;
    let row = InvitationRow {
        workspace_id: ws,
        id: InvitationId::new(),
        email: email.map(normal_email),
        role: role.as_str().to_owned(),
        created_at: now,
        expires_at: now + Duration::hours(settings.auth.invitation_hours),
        accepted_at: None,
        revoked_at: None,
    };
    repo::insert_invitation(conn, &row, &hash_secret(&token)).await?;
    let url = link(base, "accept", &token);
    Ok(InvitationCreated { invitation: invitation_view(&row, now)?, token, url })
}

/// A link for the owner account of `ws` (first start, `shequn demo`,
/// `shequn user invite`): an invitation without an e-mail, in its own
/// transaction.
pub async fn owner_link(
    pool: &sqlx::PgPool,
    settings: &Settings,
    base: &str,
    ws: WorkspaceId,
    actor: crate::audit::Actor,
) -> anyhow::Result<InvitationCreated> {
    let mut tx = crate::db::begin(pool).await?;
    let created = invite(&mut tx, settings, base, ws, None, Role::Owner, Utc::now()).await?;
    let details = serde_json::json!({"role": "owner"});
    crate::audit::record(&mut tx, ws, actor, "user.invite", "invitation", created.invitation.id, details).await?;
    tx.commit().await?;
    Ok(created)
}

/// An invitation as the API shows it.
pub fn invitation_view(r: &InvitationRow, now: DateTime<Utc>) -> anyhow::Result<InvitationView> {
    let status = match (r.accepted_at, r.revoked_at) {
        (Some(_), _) => "accepted",
        (None, Some(_)) => "revoked",
        (None, None) if r.expires_at <= now => "expired",
        _ => "pending",
    };
    Ok(InvitationView {
        id: r.id,
        email: r.email.clone(),
        role: Role::parse(&r.role).ok_or_else(|| anyhow::anyhow!("bad role {}", r.role))?,
        status: status.into(),
        created_at: r.created_at,
        expires_at: r.expires_at,
    })
}

fn link_refused() -> ApiError {
    ApiError::refused(StatusCode::GONE, "link_invalid", "this link is unknown, used, revoked or expired")
}

/// Accepts an invitation: creates the account (or, for an existing one,
/// checks its password), adds the workspace with the invitation's role and
/// signs the person in.
pub async fn accept(
    state: &AppState,
    token: &str,
    email: Option<&str>,
    pass: &str,
    display_name: Option<&str>,
) -> ApiResult<Opened> {
    if !looks_like_secret(token) {
        return Err(link_refused());
    }
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let inv = repo::lock_invitation(&mut tx, &hash_secret(token)).await?.ok_or_else(link_refused)?;
    if inv.accepted_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= now {
        return Err(link_refused());
    }
    let email = match (&inv.email, email.map(normal_email)) {
        (Some(invited), Some(given)) if *invited != given => {
            return Err(ApiError::field("email", "mismatch", "the invitation is for another address"));
        }
        (Some(invited), _) => invited.clone(),
        (None, Some(given)) => given,
        (None, None) => return Err(ApiError::field("email", "required", "this invitation needs an e-mail address")),
    };
    let mut c = crate::validate::Checks::new();
    c.email("email", &email);
    c.opt_text("display_name", display_name, 100);
    c.finish()?;
    let user = match repo::user_by_email(&mut tx, &email).await? {
        Some(u) => {
            if !password::verify(u.password_hash.clone(), pass.to_owned()).await {
                return Err(ApiError::field("password", "invalid", "this address has an account: give its password"));
            }
            u
        }
        None => {
            let hash = new_hash(state, pass, &email, "password").await?;
            let u = UserRow {
                id: UserId::new(),
                email: email.clone(),
                display_name: display_name.map(str::trim).unwrap_or_default().to_owned(),
                password_hash: Some(hash),
            };
            if !repo::insert_user(&mut tx, &u, now).await? {
                return Err(ApiError::conflict("email_taken", "an account with this address was just created"));
            }
            u
        }
    };
    let role = Role::parse(&inv.role).ok_or_else(|| anyhow::anyhow!("bad role {}", inv.role))?;
    repo::add_membership(&mut tx, inv.workspace_id, user.id, role, now).await?;
    repo::accept_invitation(&mut tx, &inv, user.id, now).await?;
    crate::audit::record(
        &mut tx,
        inv.workspace_id,
        crate::audit::Actor::User(user.id),
        "invitation.accept",
        "user",
        user.id,
        serde_json::json!({"role": role.as_str()}),
    )
    .await?;
    let places = repo::memberships(&mut tx, user.id).await?;
    let opened = open(&mut tx, state, &user, &places, inv.workspace_id, now).await?;
    tx.commit().await?;
    Ok(opened)
}

/// A password reset link for the account of `email` (`shequn user
/// reset-password`): None without such an account.
pub async fn create_reset(
    conn: &mut PgConnection,
    settings: &Settings,
    base: &str,
    email: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let Some(u) = repo::user_by_email(conn, &normal_email(email)).await? else { return Ok(None) };
    let token = generate_secret()?;
    let expires = now + Duration::minutes(settings.auth.reset_minutes);
    repo::insert_reset(conn, u.id, &hash_secret(&token), now, expires).await?;
    Ok(Some(link(base, "reset", &token)))
}

/// Sets a new password with a reset token; every session of the account ends.
pub async fn reset(state: &AppState, token: &str, pass: &str) -> ApiResult<()> {
    if !looks_like_secret(token) {
        return Err(link_refused());
    }
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let user = repo::use_reset(&mut tx, &hash_secret(token), now).await?.ok_or_else(link_refused)?;
    let u = repo::user(&mut tx, user).await?.ok_or_else(link_refused)?;
    let hash = new_hash(state, pass, &u.email, "password").await?;
    repo::set_password(&mut tx, user, &hash, now).await?;
    repo::revoke_sessions(&mut tx, user, None, None, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(axum::http::header::COOKIE, "a=1; shequn_session=abc ; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn cookies_are_secure_over_https_only() {
        let mut s = crate::config::Settings::load_from(std::path::Path::new("/nonexistent"), &[]).unwrap();
        let h = HeaderMap::new();
        let c = session_cookie(&s, &h, Some("t"), Duration::hours(1));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Max-Age=3600"), "{c}");
        assert!(!c.contains("Secure"), "{c}");
        s.server.public_url = "https://scrm.example.com".into();
        assert!(session_cookie(&s, &h, Some("t"), Duration::hours(1)).ends_with("; Secure"));
        assert!(session_cookie(&s, &h, None, Duration::zero()).contains("Max-Age=0"));
    }

    #[test]
    fn a_forwarded_address_counts_only_when_trusted() {
        let mut s = crate::config::Settings::load_from(std::path::Path::new("/nonexistent"), &[]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        let peer = Some("10.0.0.1:5000".parse().unwrap());
        assert_eq!(client_address(&s, &h, peer).as_deref(), Some("10.0.0.1"));
        s.auth.trust_forwarded_for = true;
        assert_eq!(client_address(&s, &h, peer).as_deref(), Some("203.0.113.9"));
    }
}
