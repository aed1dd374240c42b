//! Staff DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::patch::double_option;
use crate::ids::{GroupId, MemberId, StaffId};
use crate::platform::{check_identities, identities_schema, opt_identities_schema, Identity};
use crate::validate::{schema, Checks};

/// The part a staff member plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Persona {
    /// Group owner / butler (群主/群管家): owns the group's order KPI.
    Owner,
    /// Subject expert.
    Expert,
    /// Assistant.
    Assistant,
    /// An automated account.
    Bot,
}

/// A staff member.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Staff {
    pub id: StaffId,
    pub name: String,
    pub persona: Persona,
    /// Platform accounts of this staff member.
    pub identities: Vec<Identity>,
    /// Their member record, if linked.
    pub member_id: Option<MemberId>,
    pub active: bool,
    /// Groups they are assigned to.
    pub group_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/staff`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStaff {
    #[schema(schema_with = schema::text::<1, 100>)]
    pub name: String,
    pub persona: Persona,
    #[serde(default)]
    #[schema(schema_with = identities_schema)]
    pub identities: Vec<Identity>,
    pub member_id: Option<MemberId>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /v1/staff/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaff {
    #[schema(schema_with = schema::opt_text::<1, 100>)]
    pub name: Option<String>,
    pub persona: Option<Persona>,
    #[schema(schema_with = opt_identities_schema)]
    pub identities: Option<Vec<Identity>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MemberId>)]
    pub member_id: Option<Option<MemberId>>,
    pub active: Option<bool>,
}

impl CreateStaff {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 100);
        check_identities(&mut c, "identities", &self.identities);
        c.finish()
    }
}

impl UpdateStaff {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 100);
        if let Some(ids) = &self.identities {
            check_identities(&mut c, "identities", ids);
        }
        c.finish()
    }
}

/// A staff member's assignment to a group.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct GroupStaff {
    pub group_id: GroupId,
    pub staff_id: StaffId,
    pub name: String,
    pub persona: Persona,
    /// Their role in this group.
    pub role: Persona,
    pub assigned_at: DateTime<Utc>,
}

/// `PUT /v1/groups/{id}/staff/{staff_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignStaff {
    /// Role in this group; defaults to the staff member's persona.
    pub role: Option<Persona>,
}
