//! Creating workspaces (with default tiers and an owner key) and the
//! first-start bootstrap.

use anyhow::{bail, Context};
use sqlx::PgPool;

use super::model::{check_name, Workspace};
use super::repo;
use crate::audit::{self, Actor};
use crate::keys::model::{CreatedApiKey, Role};
use crate::tiers;
use crate::validate::Checks;

/// The name of the workspace created on first start.
pub const DEFAULT_WORKSPACE: &str = "default";

/// A new workspace and its first owner key.
#[derive(Debug)]
pub struct NewWorkspace {
    pub workspace: Workspace,
    pub owner_key: CreatedApiKey,
}

/// Creates a workspace with the default tiers and an owner key, in one transaction.
pub async fn create_workspace(pool: &PgPool, name: &str, timezone: &str, actor: Actor) -> anyhow::Result<NewWorkspace> {
    let mut c = Checks::new();
    check_name(&mut c, name);
    c.timezone("timezone", timezone);
    if let Err(crate::error::ApiError::Validation(errs)) = c.finish() {
        let msgs: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        bail!("invalid workspace: {}", msgs.join("; "));
    }
    let mut tx = crate::db::begin(pool).await?;
    let workspace = match repo::insert(&mut tx, name.trim(), timezone).await {
        Ok(w) => w,
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("workspaces_name_key") => {
            bail!("a workspace named `{}` already exists", name.trim())
        }
        Err(e) => return Err(e).context("inserting workspace"),
    };
    tiers::repo::insert_defaults(&mut tx, workspace.id).await?;
    let owner_key = crate::keys::repo::create(&mut tx, workspace.id, Role::Owner, "owner", None).await?;
    audit::record(&mut tx, workspace.id, actor, "workspace.create", "workspace", workspace.id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(NewWorkspace { workspace, owner_key })
}

/// On an empty database, creates workspace `default`; returns it when created.
pub async fn bootstrap(pool: &PgPool) -> anyhow::Result<Option<NewWorkspace>> {
    let mut conn = pool.acquire().await?;
    // Serialises concurrent first starts of several instances.
    repo::bootstrap_lock(&mut conn, true).await?;
    let result = async {
        if repo::any_exists(&mut conn).await? {
            return Ok(None);
        }
        create_workspace(pool, DEFAULT_WORKSPACE, super::model::DEFAULT_TIMEZONE, Actor::System).await.map(Some)
    }
    .await;
    repo::bootstrap_lock(&mut conn, false).await?;
    result
}
