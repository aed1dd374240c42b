//! Users, invitations and sessions: the DTOs and the one-time secrets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::auth::Role;
use crate::ids::{InvitationId, UserId, WorkspaceId};
use crate::validate::{schema, Checks};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shequn_session";
/// The header a cookie-authenticated write must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A new random secret (session, CSRF, invitation or reset token).
pub fn generate_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// The stored hash of a secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether a string has the shape of a secret (cheap check before any query).
pub fn looks_like_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An e-mail address as stored: trimmed and lower-cased.
pub fn normal_email(e: &str) -> String {
    e.trim().to_lowercase()
}

/// A one-time link's token: 64 hex digits.
pub fn token_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some("^[0-9a-fA-F]{64}$"))
        .build()
}

fn check_token(c: &mut Checks, token: &str) {
    if !looks_like_secret(token) {
        c.fail("token", "invalid", "must be the 64 hex digits of a link's token");
    }
}

/// A password field: what the schema says (1-256 characters, not blank).
fn check_password(c: &mut Checks, field: &str, value: &str) {
    c.text(field, value, 1, 256);
}

/// A person of the workspace.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// `active` or `disabled` (in this workspace).
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The latest sign-in to any workspace.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// `POST /v1/users`: invite a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteUser {
    #[schema(schema_with = schema::email)]
    pub email: String,
    pub role: Role,
}

impl InviteUser {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.email("email", &self.email);
        c.finish()
    }
}

/// `PATCH /v1/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<Role>,
    /// `true` disables the person in this workspace (their sessions in it
    /// end); `false` enables them again.
    pub disabled: Option<bool>,
}

/// An invitation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: InvitationId,
    /// None: the person chooses it (the owner link of a first start).
    pub email: Option<String>,
    pub role: Role,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A new invitation with its link, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation: InvitationView,
    /// The one-time secret (in `url` too).
    pub token: String,
    /// The console page that accepts it.
    pub url: String,
}

/// `POST /v1/sessions`: sign in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(schema_with = schema::text::<1, 254>)]
    pub email: String,
    #[schema(schema_with = schema::text::<1, 256>)]
    pub password: String,
    /// The workspace to open (default: the first one the person is in).
    pub workspace_id: Option<WorkspaceId>,
}

impl SignIn {
    /// Validates the shape (not the credentials).
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("email", &self.email, 1, 254);
        check_password(&mut c, "password", &self.password);
        c.finish()
    }
}

/// `POST /v1/invitations/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    #[schema(schema_with = token_schema)]
    pub token: String,
    /// Required when the invitation names none; must match it otherwise.
    #[schema(schema_with = schema::opt_email)]
    pub email: Option<String>,
    /// A new account's password, or an existing account's own.
    #[schema(schema_with = schema::text::<1, 256>)]
    pub password: String,
    #[schema(schema_with = schema::opt_text::<0, 100>)]
    pub display_name: Option<String>,
}

impl AcceptInvitation {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_token(&mut c, &self.token);
        if let Some(e) = &self.email {
            c.email("email", e);
        }
        check_password(&mut c, "password", &self.password);
        c.opt_text("display_name", self.display_name.as_deref(), 100);
        c.finish()
    }
}

/// `POST /v1/password-resets/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    #[schema(schema_with = token_schema)]
    pub token: String,
    #[schema(schema_with = schema::text::<1, 256>)]
    pub password: String,
}

impl ResetPassword {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_token(&mut c, &self.token);
        check_password(&mut c, "password", &self.password);
        c.finish()
    }
}

/// `POST /v1/session/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[schema(schema_with = schema::text::<1, 256>)]
    pub current_password: String,
    #[schema(schema_with = schema::text::<1, 256>)]
    pub new_password: String,
}

impl ChangePassword {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        check_password(&mut c, "current_password", &self.current_password);
        check_password(&mut c, "new_password", &self.new_password);
        c.finish()
    }
}

/// `POST /v1/session/workspace`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchWorkspace {
    pub workspace_id: WorkspaceId,
}

/// The signed-in person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
}

/// A workspace the person may open.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkspaceChoice {
    pub id: WorkspaceId,
    pub name: String,
    pub role: Role,
}

/// The current session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub user: Me,
    /// The workspace open now, and the role in it.
    pub workspace: WorkspaceChoice,
    /// Every workspace the person may switch to.
    pub workspaces: Vec<WorkspaceChoice>,
    /// Send it back as `X-CSRF-Token` on every write.
    pub csrf_token: String,
    /// The absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// How long a session may stay unused, in minutes.
    pub idle_minutes: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_and_hash_to_sha256() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert_ne!(a, b);
        assert!(looks_like_secret(&a));
        assert!(!looks_like_secret(&a[1..]));
        assert!(!looks_like_secret(&format!("{}g", &a[1..])));
        assert_eq!(hash_secret(&a).len(), 32);
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
