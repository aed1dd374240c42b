//! `shequn demo`: creates (or resets) a workspace of realistic community
//! data — groups across layers (VIP/basic, regions, categories), members
//! with a few core creators and many lurkers, daily check-ins with streaks,
//! welfare-hour orders at 10:00, a lottery fission campaign with invite
//! trees, some dying groups — then rolls the metrics up. Deterministic for
//! a seed. Rows are loaded with `COPY`, like a bulk import; the rollups
//! are rebuilt by the same code as the worker's.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::Actor;
use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus, Scene};
use crate::ids::{CampaignId, WorkspaceId};
use crate::layers::model::LayerSelector;
use crate::metrics::period::{day_bounds, day_start, local_day};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    pub timezone: String,
    pub members: usize,
    pub groups: usize,
    pub days: i64,
    /// Approximate number of events (None: what the habits give, about 42 per member over 90 days).
    pub events: Option<u64>,
    pub seed: u64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "demo".into(),
            timezone: crate::workspaces::model::DEFAULT_TIMEZONE.into(),
            members: 20_000,
            groups: 60,
            days: 90,
            events: None,
            seed: 2026,
            progress: true,
        }
    }
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub workspace_id: WorkspaceId,
    pub api_key: String,
    pub events: u64,
    pub stints: usize,
    pub load_secs: f64,
    pub rollup_secs: f64,
    /// Real check-ins made (the last two weeks of some members').
    pub check_ins: usize,
    pub redemptions: usize,
    /// Members the tier rules made VIPs.
    pub vips: i64,
    /// The welfare hour of the last two weeks, through the coupon and
    /// flash-sale engines.
    pub welfare: crate::demo_campaigns::WelfareOutcome,
    /// Channels, the invite campaign's referrals and the lottery.
    pub fission: crate::demo_fission::FissionOutcome,
    pub social: crate::demo_social::SocialOutcome,
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn uuid(&mut self) -> Uuid {
        // Random bits shaped as a version-4 UUID.
        let v = ((self.next() as u128) << 64) | self.next() as u128;
        uuid::Builder::from_random_bytes(v.to_le_bytes()).into_uuid()
    }
    /// Roughly Poisson with this mean (sum of coin flips), at least 1.
    fn count(&mut self, mean: f64) -> u32 {
        let mut n = 0;
        let steps = (mean * 2.0).ceil().max(1.0) as u32;
        for _ in 0..steps {
            if self.chance(mean / steps as f64) {
                n += 1;
            }
        }
        n.max(1)
    }
}

const CATEGORIES: [(&str, &str); 5] =
    [("mother-baby", "母婴"), ("beauty", "美妆"), ("learning", "学习"), ("fitness", "健身"), ("food", "美食")];
const REGIONS: [(&str, &str); 4] =
    [("shanghai", "上海"), ("beijing", "北京"), ("guangzhou", "广州"), ("chengdu", "成都")];

/// How a group's activity evolves over the days.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Thriving,
    Declining,
    Dying,
}

struct Group {
    id: Uuid,
    vip: bool,
    fate: Fate,
    vitality: f64,
}

impl Group {
    /// Activity multiplier on day `d` of `days`.
    fn level(&self, d: i64, days: i64) -> f64 {
        let t = d as f64 / days as f64;
        self.vitality
            * match self.fate {
                Fate::Thriving => 1.0,
                Fate::Declining => 1.0 - 0.9 * t,
                // Fades out and falls silent for the last 20 days.
                Fate::Dying => {
                    if d >= days - 20 {
                        0.0
                    } else {
                        (1.0 - d as f64 / (days - 20) as f64).max(0.0)
                    }
                }
            }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Profile {
    Staff,
    Core,
    Active,
    Casual,
    Lurker,
}

impl Profile {
    /// Chance of being active on a day, messages on an active day, check-in habit, welfare-hour click chance.
    fn rates(self) -> (f64, f64, f64, f64) {
        match self {
            Profile::Staff => (1.0, 2.0, 0.0, 0.0),
            Profile::Core => (0.85, 10.0, 0.8, 0.12),
            Profile::Active => (0.45, 3.0, 0.5, 0.08),
            Profile::Casual => (0.14, 1.5, 0.15, 0.03),
            Profile::Lurker => (0.02, 1.0, 0.02, 0.01),
        }
    }
}

struct Member {
    id: Uuid,
    profile: Profile,
    sharer: bool,
}

struct Stint {
    member: usize,
    group: usize,
    /// Seconds from the first day's start.
    joined: i64,
    left: Option<i64>,
    inviter: Option<usize>,
    source: &'static str,
}

/// Campaign ids and codes events carry.
struct Campaigns {
    welfare: (Uuid, &'static str),
    lottery: (Uuid, &'static str),
    checkin: (Uuid, &'static str),
}

/// Where events go: a `COPY` text buffer flushed in chunks.
struct Sink<'a> {
    ws: Uuid,
    tz: Tz,
    first_day: NaiveDate,
    now: DateTime<Utc>,
    rng: Rng,
    buf: String,
    count: u64,
    orders: u64,
    copy: Option<sqlx::postgres::PgCopyIn<&'a mut PgConnection>>,
    /// Start of each local day from `first_day` (and the day after the last).
    starts: Vec<DateTime<Utc>>,
    /// Check-ins from this instant of one member in eight are made for real
    /// later (`real`), at most `REAL_CHECK_INS`.
    real_from: Option<DateTime<Utc>>,
    real: Vec<(DateTime<Utc>, Uuid, Uuid)>,
    /// Welfare-hour visits from `real_from`, made through the engines later.
    welfare: Vec<crate::demo_campaigns::Welfare>,
}

/// Most check-ins the demo makes through the engine.
const REAL_CHECK_INS: usize = 4_000;

impl<'a> Sink<'a> {
    fn new(
        ws: Uuid,
        tz: Tz,
        (first_day, today): (NaiveDate, NaiveDate),
        now: DateTime<Utc>,
        seed: u64,
        copy: Option<sqlx::postgres::PgCopyIn<&'a mut PgConnection>>,
    ) -> Self {
        let capacity = if copy.is_some() { 17 << 20 } else { 0 };
        Sink {
            ws,
            tz,
            first_day,
            now,
            rng: Rng(seed),
            buf: String::with_capacity(capacity),
            count: 0,
            orders: 0,
            copy,
            starts: day_bounds(tz, first_day, today),
            real_from: None,
            real: Vec::new(),
            welfare: Vec::new(),
        }
    }

    /// The instant `secs` seconds into local day `d`.
    fn at(&self, d: i64, secs: i64) -> DateTime<Utc> {
        let start = match usize::try_from(d).ok().and_then(|d| self.starts.get(d)) {
            Some(s) => *s,
            None => day_start(self.tz, self.first_day + Duration::days(d)),
        };
        start + Duration::seconds(secs)
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &str,
        at: DateTime<Utc>,
        group: Uuid,
        member: Uuid,
        campaign: Option<(Uuid, &str)>,
        order: Option<(&str, i64)>,
    ) {
        if at > self.now {
            return;
        }
        let real = self.real_from.is_some_and(|f| at >= f) && member.as_u128() % 8 == 0;
        if kind == "checked_in" && real && self.real.len() < REAL_CHECK_INS {
            self.real.push((at, group, member));
            return;
        }
        let id = self.rng.uuid();
        let (cid, code) = campaign.map_or((String::from("\\N"), "\\N"), |(i, c)| (i.to_string(), c));
        let (oid, amount, currency) =
            order.map_or(("\\N".to_owned(), "\\N".to_owned(), "\\N"), |(o, a)| (o.to_owned(), a.to_string(), "CNY"));
        let _ = writeln!(
            self.buf,
            "{}\t{id}\t{kind}\t{}\t{group}\t{member}\t{cid}\t{code}\t{oid}\t{amount}\t{currency}\t{{}}\timport",
            self.ws,
            at.to_rfc3339()
        );
        self.count += 1;
    }

    async fn flush(&mut self, force: bool) -> anyhow::Result<()> {
        if self.buf.len() < (16 << 20) && !force {
            return Ok(());
        }
        if let Some(copy) = self.copy.as_mut() {
            copy.send(self.buf.as_bytes()).await?;
        }
        self.buf.clear();
        Ok(())
    }
}

/// Deletes every row of workspace `name`, if it exists.
async fn reset(pool: &PgPool, name: &str) -> anyhow::Result<()> {
    let mut tx = crate::db::begin(pool).await?;
    let Some(ws): Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?
    else {
        return Ok(());
    };
    // Tables without a foreign key to the workspace (events are partitioned, rollups derived):
    // emptied first; deleting the workspace cascades to the rest.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'workspaces'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                           WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid = 'workspaces'::regclass)",
    )
    .fetch_all(&mut *tx)
    .await?;
    for t in tables {
        sqlx::query(&format!("DELETE FROM \"{t}\" WHERE workspace_id = $1")).bind(ws).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM workspaces WHERE id = $1").bind(ws).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

fn bar(progress: bool, label: &str, done: u64, total: u64, started: Instant) {
    if !progress {
        return;
    }
    let frac = if total == 0 { 1.0 } else { (done as f64 / total as f64).min(1.0) };
    let filled = (frac * 30.0) as usize;
    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
    eprint!(
        "\r{label:<10} [{}{}] {:>5.1}% {done:>10} ({rate:.0}/s)   ",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        frac * 100.0
    );
    let _ = std::io::stderr().flush();
}

/// Creates (or resets) the demo workspace and fills it.
pub async fn run(pool: &PgPool, o: &Options, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
    anyhow::ensure!(o.members >= 10 && o.groups >= 1 && (7..=730).contains(&o.days), "too small a demo");
    let tz: Tz = o.timezone.parse().map_err(|_| anyhow::anyhow!("unknown timezone {}", o.timezone))?;
    reset(pool, &o.name).await?;
    let nw = crate::workspaces::service::create_workspace(pool, &o.name, &o.timezone, Actor::Cli).await?;
    let ws = nw.workspace.id;
    let today = local_day(tz, now);
    let first_day = today - Duration::days(o.days - 1);
    let mut rng = Rng(o.seed);
    let started = Instant::now();

    // Groups: a VIP group in every four; one in ten fading out, one in ten declining.
    let groups: Vec<Group> = (0..o.groups)
        .map(|g| Group {
            id: rng.uuid(),
            vip: g % 4 == 0,
            fate: match g % 10 {
                9 => Fate::Dying,
                4 => Fate::Declining,
                _ => Fate::Thriving,
            },
            vitality: 0.6 + 0.8 * rng.unit(),
        })
        .collect();
    let mut conn = pool.acquire().await?;
    insert_groups(&mut conn, ws.0, &groups).await?;
    let campaigns = insert_setup(&mut conn, ws, first_day, o.days, tz, now).await?;
    for month in 0..=(o.days / 28 + 2) {
        let m = first_day - Duration::days(62) + Duration::days(31 * month);
        sqlx::query("SELECT shequn_ensure_event_partition($1)").bind(m).execute(&mut *conn).await?;
    }

    // Members: one operator (staff) per group; 2% core creators, 18% active, 40% casual, 40% lurkers.
    let members: Vec<Member> = (0..o.members)
        .map(|i| {
            let profile = if i < o.groups {
                Profile::Staff
            } else {
                match rng.below(100) {
                    0..=1 => Profile::Core,
                    2..=19 => Profile::Active,
                    20..=59 => Profile::Casual,
                    _ => Profile::Lurker,
                }
            };
            let sharer = matches!(profile, Profile::Core | Profile::Active) && rng.chance(0.3);
            Member { id: rng.uuid(), profile, sharer }
        })
        .collect();
    let stints = plan_stints(&mut rng, &members, &groups, o.days);
    insert_members(&mut conn, ws.0, &members, &groups, &stints, tz, first_day).await?;
    drop(conn);

    // Calibrate the message volume on a sample when a total was asked for.
    let mut volume = 1.0;
    if let Some(target) = o.events {
        let sample: Vec<&Stint> = stints.iter().step_by(50).collect();
        let mut probe = Sink::new(ws.0, tz, (first_day, today), now, o.seed ^ 1, None);
        for s in &sample {
            stint_events(&mut probe, s, &members, &groups, &campaigns, o.days, 1.0);
            probe.buf.clear();
        }
        let natural = probe.count as f64 * stints.len() as f64 / sample.len().max(1) as f64;
        volume = (target as f64 / natural.max(1.0)).clamp(0.05, 50.0);
    }

    let mut conn = pool.acquire().await?;
    let copy = conn
        .copy_in_raw(
            "COPY events (workspace_id, id, type, occurred_at, group_id, member_id, campaign_id, campaign_code,
                          order_id, amount, currency, properties, source) FROM STDIN",
        )
        .await?;
    let mut sink = Sink::new(ws.0, tz, (first_day, today), now, o.seed ^ 2, Some(copy));
    sink.real_from = Some(day_start(tz, today - Duration::days(13)));
    let estimate = o.events.unwrap_or(42 * o.members as u64 * o.days as u64 / 90);
    for (i, s) in stints.iter().enumerate() {
        stint_events(&mut sink, s, &members, &groups, &campaigns, o.days, volume);
        sink.flush(false).await?;
        if i % 500 == 0 {
            bar(o.progress, "events", sink.count, estimate.max(sink.count), started);
        }
    }
    sink.flush(true).await?;
    let events = sink.count;
    if let Some(copy) = sink.copy.take() {
        copy.finish().await?;
    }
    let real = std::mem::take(&mut sink.real);
    let welfare = std::mem::take(&mut sink.welfare);
    let since = sink.real_from.unwrap_or(now);
    drop(sink);
    bar(o.progress, "events", events, events, started);
    if o.progress {
        eprintln!();
    }
    // Fresh statistics for every table loaded (the planner would otherwise
    // take the new workspace's 1,000 groups for 2 rows until autovacuum ran).
    for table in ["events", "memberships", "members", "member_identities", "groups"] {
        sqlx::query(&format!("ANALYZE {table}")).execute(&mut *conn).await?;
    }

    drop(conn);
    if o.progress {
        eprint!("campaigns  (check-ins, mall, tier rules) …");
    }
    let checkin = CampaignId(campaigns.checkin.0);
    let check_ins = crate::demo_campaigns::check_ins(pool, ws, checkin, real, now).await?;
    let redemptions = crate::demo_campaigns::mall(pool, ws, now).await?;
    let sales = crate::demo_campaigns::welfare(pool, ws, campaigns.welfare, since, welfare, now).await?;
    if o.progress {
        eprintln!(
            " {check_ins} check-ins, {redemptions} redemptions, {} coupons claimed, {} flash-sale orders ({} paid)",
            sales.claimed, sales.reserved, sales.paid
        );
    }
    let ls = o.days / 3;
    let window = (first_day + Duration::days(ls), first_day + Duration::days(ls + 13));
    let fission = crate::demo_fission::run(pool, ws, tz, (campaigns.lottery.0, window.0, window.1), now).await?;
    if o.progress {
        eprintln!(
            "growth     {} channels ({} joins attributed), referrals {:?}, lottery drawn: {}",
            fission.channels, fission.attributed, fission.referrals, fission.lottery_drawn
        );
    }
    let social = crate::demo_social::run(pool, ws, now).await?;
    if o.progress {
        eprintln!("social     group-buy teams {:?}, bargain sessions {:?}", social.teams, social.sessions);
    }
    let mut conn = pool.acquire().await?;
    let load_secs = started.elapsed().as_secs_f64();

    // Roll the metrics up, as the worker does after a bulk import.
    let rolled = Instant::now();
    crate::metrics::store::rollup::mark_all_dirty(&mut conn, ws).await?;
    drop(conn);
    if o.progress {
        eprint!("rollups    (rebuilding {events} events) …");
    }
    crate::metrics::store::rollup::drain(pool).await.context("rollup")?;
    let rollup_secs = rolled.elapsed().as_secs_f64();
    if o.progress {
        eprintln!(" {rollup_secs:.1} s");
    }
    use crate::metrics::store::rollup::{DAY_TABLES, OTHER_TABLES};
    for table in DAY_TABLES.iter().chain(&OTHER_TABLES).chain(&["metric_member_index"]) {
        sqlx::query(&format!("ANALYZE {table}")).execute(pool).await?;
    }
    let vips = crate::demo_campaigns::tiers(pool, ws, now).await?;
    Ok(Outcome {
        workspace_id: ws,
        api_key: nw.owner_key.key,
        // Each real check-in stored its `checked_in` event; the welfare
        // hour its claims, orders, payments and redemptions.
        events: events + check_ins as u64 + sales.events as u64,
        stints: stints.len(),
        load_secs,
        rollup_secs,
        check_ins,
        redemptions,
        vips,
        welfare: sales,
        fission,
        social,
    })
}

async fn insert_groups(conn: &mut PgConnection, ws: Uuid, groups: &[Group]) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(groups.len());
    for (g, x) in groups.iter().enumerate() {
        let (cat, cat_zh) = CATEGORIES[g % CATEGORIES.len()];
        let (region, region_zh) = REGIONS[(g / CATEGORIES.len()) % REGIONS.len()];
        let tier = if x.vip { "vip" } else { "basic" };
        let name = format!("{region_zh}{cat_zh}{}{}群", if x.vip { "VIP" } else { "" }, g + 1);
        let platform = if g % 6 == 5 { "telegram" } else { "wecom" };
        rows.push((x.id, platform, format!("demo-{g}"), name, region, cat, tier));
    }
    sqlx::query(
        "INSERT INTO groups (workspace_id, id, platform, external_id, name, region, category, tier)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
    )
    .bind(ws)
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.4).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.5).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.6).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Layers and campaigns operators would have set up.
async fn insert_setup(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    first_day: NaiveDate,
    days: i64,
    tz: Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<Campaigns> {
    let layer = |tiers: &[&str], categories: &[&str]| LayerSelector {
        tiers: tiers.iter().map(|t| (*t).to_owned()).collect(),
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    };
    crate::layers::repo::insert(conn, ws, "VIP groups", "High-value groups", &layer(&["vip"], &[])).await?;
    crate::layers::repo::insert(conn, ws, "Basic groups", "Everyone else", &layer(&["basic"], &[])).await?;
    crate::layers::repo::insert(conn, ws, "Mother & baby", "母婴 groups", &layer(&[], &["mother-baby"])).await?;
    let lottery_start = days / 3;
    let make = |name: &str, scene, kind, code: &'static str, from: i64, to: Option<i64>| {
        let starts = day_start(tz, first_day + Duration::days(from));
        let ends = to.map(|t| day_start(tz, first_day + Duration::days(t)));
        Campaign {
            id: CampaignId::new(),
            name: name.to_owned(),
            description: String::new(),
            scene,
            kind,
            status: if ends.is_some_and(|e| e <= now) { CampaignStatus::Ended } else { CampaignStatus::Running },
            starts_at: Some(starts),
            ends_at: ends,
            target: None,
            tracking_code: code.to_owned(),
            link: None,
            settings: serde_json::json!({}),
            created_at: now,
            updated_at: now,
        }
    };
    let all = [
        make("Welfare hour 10:00 flash sale", Scene::Conversion, CampaignKind::FlashSale, "welfare-hour", 0, None),
        make(
            "Lottery fission: invite 3 friends",
            Scene::Fission,
            CampaignKind::Lottery,
            "lottery-fission",
            lottery_start,
            Some(lottery_start + 14),
        ),
        Campaign {
            settings: crate::campaigns::settings::normalize(
                CampaignKind::CheckIn,
                Some(crate::demo_campaigns::check_in_settings()),
            )
            .map_err(|e| anyhow::anyhow!("demo check-in settings: {e}"))?,
            ..make("Daily check-in", Scene::Activity, CampaignKind::CheckIn, "daily-checkin", 0, None)
        },
    ];
    for c in &all {
        crate::campaigns::repo::insert(conn, ws, c).await?;
    }
    Ok(Campaigns {
        welfare: (all[0].id.0, "welfare-hour"),
        lottery: (all[1].id.0, "lottery-fission"),
        checkin: (all[2].id.0, "daily-checkin"),
    })
}

/// Who joins which group when, who leaves, and who invited whom.
fn plan_stints(rng: &mut Rng, members: &[Member], groups: &[Group], days: i64) -> Vec<Stint> {
    let day = 86_400;
    let lottery = (days / 3, days / 3 + 14);
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let home = if m.profile == Profile::Staff { i % groups.len() } else { rng.below(groups.len() as u64) as usize };
        let mut gs = vec![home];
        if m.profile != Profile::Staff && rng.chance(0.25) {
            gs.push(rng.below(groups.len() as u64) as usize);
        }
        gs.dedup();
        for g in gs {
            // 45% were there before the period; the rest join over it, more during the lottery.
            let d = if m.profile == Profile::Staff || rng.chance(0.45) {
                -(1 + rng.below(60) as i64)
            } else if rng.chance(0.25) {
                lottery.0 + rng.below(14) as i64
            } else {
                rng.below(days as u64) as i64
            };
            let joined = d * day + 8 * 3600 + rng.below(14 * 3600) as i64;
            let source = if (lottery.0..lottery.1).contains(&d) { "invite_link" } else { "qr_code" };
            let mut left = None;
            let churn = if groups[g].fate == Fate::Dying { 0.35 } else { 0.12 };
            if m.profile != Profile::Staff && rng.chance(churn) {
                left = Some(joined + (1 + rng.below(40) as i64) * day - rng.below(day as u64) as i64);
            }
            out.push(Stint { member: i, group: g, joined, left, inviter: None, source });
            // One in five leavers comes back.
            if let Some(l) = left.filter(|_| rng.chance(0.2)) {
                out.push(Stint {
                    member: i,
                    group: g,
                    joined: l + (1 + rng.below(10) as i64) * day,
                    left: None,
                    inviter: None,
                    source: "qr_code",
                });
            }
        }
    }
    out.sort_by_key(|s| s.joined);
    // Invite trees: a lottery-window join names a sharer already in the group
    // (invitees who share in turn make the tree deeper).
    let mut sharers: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    for s in &mut out {
        if s.source == "invite_link" {
            let pool = &sharers[s.group];
            if !pool.is_empty() {
                s.inviter = Some(pool[rng.below(pool.len() as u64) as usize]);
            }
        }
        if members[s.member].sharer || (s.source == "invite_link" && rng.chance(0.2)) {
            sharers[s.group].push(s.member);
        }
    }
    out
}

async fn insert_members(
    conn: &mut PgConnection,
    ws: Uuid,
    members: &[Member],
    groups: &[Group],
    stints: &[Stint],
    tz: Tz,
    first_day: NaiveDate,
) -> anyhow::Result<()> {
    const SURNAMES: [&str; 12] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙"];
    const GIVEN: [&str; 12] = ["小雨", "晓燕", "静", "磊", "婷婷", "军", "丽", "强", "敏", "洋", "芳", "超"];
    let mut text = String::new();
    for (i, m) in members.iter().enumerate() {
        let name = format!("{}{}", SURNAMES[i % 12], GIVEN[(i / 12) % 12]);
        let _ = writeln!(text, "{ws}\t{}\t{name}\t{}", m.id, m.profile == Profile::Staff);
    }
    let mut copy = conn.copy_in_raw("COPY members (workspace_id, id, display_name, is_staff) FROM STDIN").await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    text.clear();
    for (i, m) in members.iter().enumerate() {
        let _ = writeln!(text, "{ws}\twecom\twm-demo-{i}\t{}", m.id);
    }
    let mut copy =
        conn.copy_in_raw("COPY member_identities (workspace_id, platform, external_id, member_id) FROM STDIN").await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    text.clear();
    let start = day_start(tz, first_day);
    let mut rng = Rng(7);
    for s in stints {
        let at = |secs: i64| (start + Duration::seconds(secs)).to_rfc3339();
        let _ = writeln!(
            text,
            "{ws}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            rng.uuid(),
            groups[s.group].id,
            members[s.member].id,
            at(s.joined),
            s.left.map_or_else(|| "\\N".to_owned(), at),
            s.source,
            s.inviter.map_or_else(|| "\\N".to_owned(), |i| members[i].id.to_string()),
        );
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY memberships (workspace_id, id, group_id, member_id, joined_at, left_at, source, inviter_id) FROM STDIN",
        )
        .await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// The events of one stint: its join and leave, and each day's activity.
fn stint_events(
    sink: &mut Sink,
    s: &Stint,
    members: &[Member],
    groups: &[Group],
    c: &Campaigns,
    days: i64,
    volume: f64,
) {
    let day = 86_400;
    let m = &members[s.member];
    let g = &groups[s.group];
    let (p_active, msgs, habit, welfare) = m.profile.rates();
    let start = sink.at(0, 0);
    if s.joined >= 0 {
        sink.push("member_joined", start + Duration::seconds(s.joined), g.id, m.id, None, None);
    }
    if let Some(l) = s.left.filter(|l| *l >= 0) {
        sink.push("member_left", start + Duration::seconds(l), g.id, m.id, None, None);
    }
    let first = (s.joined.div_euclid(day) + 1).max(0);
    let last = s.left.map_or(days - 1, |l| (l.div_euclid(day) - 1).min(days - 1));
    let checks_in = sink.rng.chance(habit);
    let mut streak = false;
    let lottery = (days / 3, days / 3 + 14);
    for d in first..=last {
        let level = g.level(d, days);
        if level <= 0.0 && m.profile != Profile::Staff {
            continue;
        }
        // Check-ins between 07:30 and 09:30, in streaks.
        if checks_in && sink.rng.chance(if streak { 0.85 } else { 0.25 } * level.min(1.0)) {
            let secs = 27_000 + sink.rng.below(7_200) as i64;
            let at = sink.at(d, secs);
            sink.push("checked_in", at, g.id, m.id, Some(c.checkin), None);
            streak = true;
        } else {
            streak = false;
        }
        if m.profile == Profile::Staff {
            // The operator posts the morning notice and the 10:00 welfare offer (silent in dead groups).
            if level > 0.0 {
                for secs in [32_400, 36_000] {
                    let secs = secs + sink.rng.below(120) as i64;
                    let at = sink.at(d, secs);
                    sink.push("message_sent", at, g.id, m.id, None, None);
                }
            }
            continue;
        }
        if !sink.rng.chance((p_active * level).min(1.0)) {
            continue;
        }
        let n = sink.rng.count(msgs * volume);
        for _ in 0..n {
            // Most chat between 08:00 and 23:00, peaking at lunch and in the evening.
            let hour = [8, 9, 10, 11, 12, 12, 13, 15, 17, 19, 20, 20, 21, 21, 22][sink.rng.below(15) as usize];
            let secs = hour * 3600 + sink.rng.below(3600) as i64;
            let at = sink.at(d, secs);
            sink.push("message_sent", at, g.id, m.id, None, None);
        }
        // Welfare hour at 10:00: click, coupon, order, payment. Since the
        // coupon template and the flash sale began (two weeks ago) the
        // visits are made through the engines after the load; before, the
        // orders were plain ones.
        if sink.rng.chance(welfare * (if g.vip { 1.5 } else { 1.0 })) {
            let t = 36_000 + sink.rng.below(1_800) as i64;
            let clicked = sink.at(d, t);
            sink.push("link_clicked", clicked, g.id, m.id, Some(c.welfare), None);
            let claim = sink.rng.chance(0.5);
            let real = sink.real_from.is_some_and(|f| clicked >= f) && clicked <= sink.now;
            let order = if sink.rng.chance(0.4) {
                sink.orders += 1;
                let order = format!("demo-{}", sink.orders);
                let amount = 990 + 100 * sink.rng.below(290) as i64 * if g.vip { 2 } else { 1 };
                let paid = if sink.rng.chance(0.8) {
                    let secs = t + 120 + sink.rng.below(600) as i64;
                    Some(sink.at(d, secs))
                } else {
                    None
                };
                let refunded = match paid {
                    Some(p) if sink.rng.chance(0.04) => Some(p + Duration::hours(2 + sink.rng.below(70) as i64)),
                    _ => None,
                };
                Some((order, amount, paid, refunded))
            } else {
                None
            };
            if real {
                let order = order.map(|(id, _, paid, refunded)| crate::demo_campaigns::WelfareOrder {
                    id,
                    item: sink.rng.below(2) as usize,
                    quantity: 1 + sink.rng.below(2) as i32,
                    paid: paid.filter(|p| *p <= sink.now),
                    refunded: refunded.filter(|r| *r <= sink.now),
                });
                sink.welfare.push(crate::demo_campaigns::Welfare {
                    at: clicked,
                    group: g.id,
                    member: m.id,
                    claim,
                    order,
                });
            } else if let Some((order, amount, paid, refunded)) = order {
                sink.push("order_placed", sink.at(d, t + 60), g.id, m.id, Some(c.welfare), Some((&order, amount)));
                if let Some(paid) = paid {
                    sink.push("order_paid", paid, g.id, m.id, Some(c.welfare), Some((&order, amount)));
                    if let Some(at) = refunded {
                        sink.push("order_refunded", at, g.id, m.id, Some(c.welfare), Some((&order, amount)));
                    }
                }
            }
        }
        // The lottery fission campaign: clicks and invites by sharers.
        if (lottery.0..lottery.1).contains(&d) && sink.rng.chance(0.35) {
            let secs = 43_200 + sink.rng.below(36_000) as i64;
            let at = sink.at(d, secs);
            sink.push("link_clicked", at, g.id, m.id, Some(c.lottery), None);
            if m.sharer {
                for k in 0..1 + sink.rng.below(3) {
                    sink.push(
                        "member_invited",
                        at + Duration::minutes(1 + k as i64),
                        g.id,
                        m.id,
                        Some(c.lottery),
                        None,
                    );
                }
            }
        }
    }
}
