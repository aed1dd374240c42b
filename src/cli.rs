//! The command line: `serve` (default), `worker`, `migrate`, `openapi`,
//! `workspace create`, `key create`, `user invite`, `user reset-password`,
//! `demo`, `rollup rebuild`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::audit::Actor;
use crate::config::Settings;
use crate::ids::WorkspaceId;
use crate::keys::model::Role;

/// Shequn: community-operations SCRM.
#[derive(Debug, Parser)]
#[command(name = "shequn", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Run only the background work (SOP scheduler, delivery workers, inbox
    /// processor, partition maintenance), without the HTTP API.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Console accounts: invitation and password reset links (Shequn sends
    /// no e-mail: the links are printed).
    #[command(subcommand)]
    User(UserCommand),
    /// Metric rollups.
    #[command(subcommand)]
    Rollup(RollupCommand),
    /// Create (or reset) the workspace `demo` with realistic data, roll its
    /// metrics up, and print an API key and example URLs.
    Demo {
        /// Members (one in 50 a core creator, 18% active, 40% casual, 40% lurkers; one operator per group).
        #[arg(long, default_value_t = 20_000)]
        members: usize,
        /// Groups.
        #[arg(long, default_value_t = 60)]
        groups: usize,
        /// Days of history, ending today.
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// About this many events, up to 100,000,000 (default: what the members' habits give, ~850k).
        #[arg(long)]
        events: Option<u64>,
        /// Seed of the generator (same seed, same data).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Workspace name.
        #[arg(long, default_value = "demo")]
        name: String,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

/// `shequn workspace ...`.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace with default tiers and an owner key.
    Create {
        /// The workspace name (unique).
        name: String,
        /// IANA timezone.
        #[arg(long, default_value = crate::workspaces::model::DEFAULT_TIMEZONE)]
        timezone: String,
        /// Print `{"workspace_id", "api_key"}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `shequn rollup ...`.
#[derive(Debug, Subcommand)]
pub enum RollupCommand {
    /// Recompute the rollups of local days whole from the raw events (the
    /// repair path; new events are merged incrementally by the server). The
    /// funnel timelines of the months of those days are rebuilt too.
    Rebuild {
        /// First local day (YYYY-MM-DD), in each workspace's timezone.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last local day (YYYY-MM-DD), included.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Only this workspace (by name; default: every workspace).
        #[arg(long)]
        workspace: Option<String>,
    },
}

/// `shequn user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Print a one-time link inviting a person to a workspace.
    Invite {
        /// The workspace name.
        #[arg(long, default_value = crate::workspaces::service::DEFAULT_WORKSPACE)]
        workspace: String,
        /// owner, admin, operator or viewer.
        #[arg(long, default_value = "owner")]
        role: String,
        /// The person's e-mail (default: they choose it).
        #[arg(long)]
        email: Option<String>,
    },
    /// Print a one-time link that sets a new password for the account of EMAIL.
    ResetPassword {
        /// The account's e-mail address.
        email: String,
    },
}

/// `shequn key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key.
    Create {
        /// The workspace id.
        #[arg(long)]
        workspace: uuid::Uuid,
        /// owner, admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// A label for the key.
        #[arg(long, default_value = "")]
        name: String,
        /// Print `{"workspace_id", "api_key", "key_id", "role"}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::startup::serve(settings).await,
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&crate::api::openapi())?);
            Ok(())
        }
        Command::Worker => crate::startup::worker(settings).await,
        Command::Migrate => {
            let db = crate::db::open(&settings).await?;
            crate::db::migrate(&db.pool).await?;
            println!("migrations applied");
            db.close().await
        }
        Command::Workspace(WorkspaceCommand::Create { name, timezone, json }) => {
            let db = open_migrated(&settings).await?;
            let result = crate::workspaces::service::create_workspace(&db.pool, &name, &timezone, Actor::Cli).await;
            db.close().await?;
            let nw = result?;
            if json {
                println!("{}", serde_json::json!({"workspace_id": nw.workspace.id, "api_key": nw.owner_key.key}));
            } else {
                println!("workspace `{}` created: {}", nw.workspace.name, nw.workspace.id);
                println!("owner API key (shown once): {}", nw.owner_key.key);
            }
            Ok(())
        }
        Command::Rollup(RollupCommand::Rebuild { from, to, workspace }) => {
            if from > to || (to - from).num_days() >= 3_660 {
                bail!("--from must be on or before --to, at most 3,660 days apart");
            }
            let db = open_migrated(&settings).await?;
            let started = std::time::Instant::now();
            let result = crate::metrics::store::rollup::rebuild_days(&db.pool, workspace.as_deref(), from, to).await;
            db.close().await?;
            let workspaces = result?;
            println!(
                "recomputed {from}..={to} of {workspaces} workspace(s) from the raw events in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Demo { members, groups, days, events, seed, name, quiet } => {
            if !(10..=5_000_000).contains(&members) || !(1..=100_000).contains(&groups) || !(7..=730).contains(&days) {
                bail!("--members must be 10-5000000, --groups 1-100000, --days 7-730");
            }
            if events.is_some_and(|e| e > 100_000_000) {
                bail!("--events must be at most 100000000");
            }
            let db = open_migrated(&settings).await?;
            let options = crate::demo::Options {
                name,
                members,
                groups,
                days,
                events,
                seed,
                progress: !quiet,
                ..Default::default()
            };
            let result = crate::demo::run(&db.pool, &options, chrono::Utc::now()).await;
            db.close().await?;
            let out = result?;
            let base = format!("http://{}:{}", settings.server.host, settings.server.port);
            println!(
                "workspace `{}` ({}): {} events, {} memberships; loaded in {:.1} s, rolled up in {:.1} s",
                options.name, out.workspace_id, out.events, out.stints, out.load_secs, out.rollup_secs
            );
            println!(
                "check-in campaign `daily-checkin`: {} check-ins made through the engine (the last two weeks of \
                 one member in eight); {} mall redemptions; tier rules made {} VIPs",
                out.check_ins, out.redemptions, out.vips
            );
            println!(
                "welfare hour `welfare-hour` (the last two weeks, through the engines): coupon \"VIP 满100减20\" \
                 claimed {} times; daily 10:00 flash sale: {} orders reserved, {} paid",
                out.welfare.claimed, out.welfare.reserved, out.welfare.paid
            );
            println!("owner API key (shown once): {}", out.api_key);
            let db = open_migrated(&settings).await?;
            let link =
                crate::users::service::owner_link(&db.pool, &settings, &base, out.workspace_id, Actor::Cli).await;
            db.close().await?;
            println!("console: the owner's one-time link (choose an e-mail and password): {}", link?.url);
            println!("try (with -H 'Authorization: Bearer <key>'):");
            for path in [
                "/v1/metrics/activity",
                "/v1/metrics/retention?period=week&periods=8",
                "/v1/metrics/funnel?funnel=purchase",
                "/v1/metrics/commerce?by=campaign",
                "/v1/metrics/groups/health?status=dead",
                "/v1/metrics/growth",
                "/v1/mall/redemptions",
                "/v1/tier-rules",
                "/v1/coupon-templates",
                "/v1/flash-sales",
            ] {
                println!("  curl -H 'Authorization: Bearer {}' '{base}{path}'", out.api_key);
            }
            Ok(())
        }
        Command::User(cmd) => {
            let db = open_migrated(&settings).await?;
            let result = user_command(&db.pool, &settings, cmd).await;
            db.close().await?;
            println!("{}", result?);
            Ok(())
        }
        Command::Key(KeyCommand::Create { workspace, role, name, json }) => {
            let Some(role) = Role::parse(&role) else { bail!("--role must be owner, admin, operator or viewer") };
            let db = open_migrated(&settings).await?;
            let result = create_key(&db.pool, WorkspaceId(workspace), role, &name).await;
            db.close().await?;
            let key = result?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"workspace_id": workspace, "api_key": key.key, "key_id": key.view.id, "role": role})
                );
            } else {
                println!("{} key created ({}): {}", role.as_str(), key.view.id, key.key);
            }
            Ok(())
        }
    }
}

async fn open_migrated(settings: &Settings) -> anyhow::Result<crate::db::Database> {
    let db = crate::db::open(settings).await?;
    crate::db::migrate(&db.pool).await?;
    Ok(db)
}

async fn create_key(
    pool: &sqlx::PgPool,
    ws: WorkspaceId,
    role: Role,
    name: &str,
) -> anyhow::Result<crate::keys::model::CreatedApiKey> {
    let mut tx = crate::db::begin(pool).await?;
    if crate::workspaces::repo::get(&mut tx, ws).await?.is_none() {
        bail!("no workspace {ws}");
    }
    let key = crate::keys::repo::create(&mut tx, ws, role, name, None).await.context("creating key")?;
    crate::audit::record(
        &mut tx,
        ws,
        Actor::Cli,
        "api_key.create",
        "api_key",
        key.view.id,
        serde_json::json!({"role": role}),
    )
    .await?;
    tx.commit().await?;
    Ok(key)
}

/// Runs `shequn user …`; returns what to print.
async fn user_command(pool: &sqlx::PgPool, settings: &Settings, cmd: UserCommand) -> anyhow::Result<String> {
    let base = settings.public_url(settings.server.port);
    match cmd {
        UserCommand::Invite { workspace, role, email } => {
            let Some(role) = Role::parse(&role) else { bail!("--role must be owner, admin, operator or viewer") };
            if let Some(e) = &email {
                let mut c = crate::validate::Checks::new();
                c.email("email", e.trim());
                if c.finish().is_err() {
                    bail!("--email must be an e-mail address");
                }
            }
            let mut tx = crate::db::begin(pool).await?;
            let Some(ws) = crate::workspaces::repo::by_name(&mut tx, &workspace).await? else {
                bail!("no workspace named `{workspace}`")
            };
            let now = chrono::Utc::now();
            let created =
                crate::users::service::invite(&mut tx, settings, &base, ws.id, email.as_deref(), role, now).await?;
            let details = serde_json::json!({"role": role.as_str()});
            crate::audit::record(
                &mut tx,
                ws.id,
                Actor::Cli,
                "user.invite",
                "invitation",
                created.invitation.id,
                details,
            )
            .await?;
            tx.commit().await?;
            Ok(format!(
                "{} invitation to `{}` (valid until {}): {}",
                role.as_str(),
                ws.name,
                created.invitation.expires_at.to_rfc3339(),
                created.url
            ))
        }
        UserCommand::ResetPassword { email } => {
            let mut conn = pool.acquire().await?;
            match crate::users::service::create_reset(&mut conn, settings, &base, &email, chrono::Utc::now()).await? {
                Some(url) => {
                    Ok(format!("password reset link (valid {} minutes, once): {url}", settings.auth.reset_minutes))
                }
                None => bail!("no account with that e-mail address"),
            }
        }
    }
}
