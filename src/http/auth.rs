//! Who is calling: the [`Auth`] a handler extracts (set by the key
//! middleware of `keys`, from a key or a console session) and the [`Role`] it carries. Below every feature,
//! so the toolkit, the audit log and every handler share one type.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiKeyId, UserId, WorkspaceId};

/// What a key may do. Ordered: viewer < operator < admin < owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read only.
    Viewer,
    /// All domain writes; no key or workspace management.
    Operator,
    /// Everything but owner keys.
    Admin,
    /// Everything.
    Owner,
}

impl Role {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Role::Viewer,
            "operator" => Role::Operator,
            "admin" => Role::Admin,
            "owner" => Role::Owner,
            _ => return None,
        })
    }
}

/// Who authenticated: an integration's key or a person signed in to the
/// console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Key(ApiKeyId),
    User(UserId),
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    pub workspace_id: WorkspaceId,
    pub principal: Principal,
    pub role: Role,
}

impl Auth {
    /// The key, when a key authenticated.
    pub fn key_id(&self) -> Option<ApiKeyId> {
        match self.principal {
            Principal::Key(k) => Some(k),
            Principal::User(_) => None,
        }
    }

    /// The person, when signed in.
    pub fn user_id(&self) -> Option<UserId> {
        match self.principal {
            Principal::User(u) => Some(u),
            Principal::Key(_) => None,
        }
    }

    /// 403 unless the caller's role is at least `min`.
    pub fn require(&self, min: Role) -> ApiResult<()> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Auth>().copied().ok_or(ApiError::Unauthorized)
    }
}
