//! All SQL of deliveries. The claim and recovery queries span workspaces
//! (like the inbox processor's claim): they are the workers' global view.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Attempt, Channel, Delivery, DeliveryState};
use crate::contents::model::Message;
use crate::ids::{ConnectionId, ContentId, DeliveryId, GroupId, MemberId, PlanId, StepId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: DeliveryId,
    plan_id: Option<PlanId>,
    step_id: Option<StepId>,
    check_in_id: Option<Uuid>,
    group_id: GroupId,
    member_id: Uuid,
    content_id: ContentId,
    connection_id: Option<ConnectionId>,
    channel: Channel,
    state: DeliveryState,
    slot_at: DateTime<Utc>,
    fire_at: DateTime<Utc>,
    local_time: String,
    message: Json<Message>,
    attempt_count: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    lateness_ms: Option<i64>,
    platform_message_id: Option<String>,
    last_error: Option<String>,
    reminders: i32,
    confirmed_at: Option<DateTime<Utc>>,
    attempt_log: Json<Vec<Attempt>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Delivery {
    fn from(r: Row) -> Self {
        Delivery {
            id: r.id,
            plan_id: r.plan_id,
            step_id: r.step_id,
            check_in_id: r.check_in_id,
            group_id: r.group_id,
            member_id: (!r.member_id.is_nil()).then_some(MemberId(r.member_id)),
            content_id: r.content_id,
            connection_id: r.connection_id,
            channel: r.channel,
            state: r.state,
            slot_at: r.slot_at,
            fire_at: r.fire_at,
            local_time: r.local_time,
            message: r.message.0,
            attempt_count: r.attempt_count,
            next_attempt_at: r.next_attempt_at,
            sent_at: r.sent_at,
            lateness_ms: r.lateness_ms,
            platform_message_id: r.platform_message_id,
            last_error: r.last_error,
            reminders: r.reminders,
            confirmed_at: r.confirmed_at,
            attempts: r.attempt_log.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT d.id, d.plan_id, d.step_id, d.check_in_id, d.group_id, d.member_id, d.content_id, d.connection_id,
    d.channel, d.state, d.slot_at, d.fire_at, d.local_time, d.message, d.attempts AS attempt_count, d.next_attempt_at,
    d.sent_at, d.lateness_ms, d.platform_message_id, d.last_error, d.reminders, d.confirmed_at, d.created_at, d.updated_at,
    coalesce((SELECT jsonb_agg(jsonb_build_object('number', a.number, 'started_at', a.started_at,
                 'finished_at', a.finished_at, 'outcome', a.outcome, 'http_status', a.http_status,
                 'response', a.response, 'error', a.error) ORDER BY a.number)
              FROM delivery_attempts a WHERE a.workspace_id = d.workspace_id AND a.delivery_id = d.id), '[]') AS attempt_log
    FROM deliveries d";

/// Delivery filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub plan: Option<PlanId>,
    pub group: Option<GroupId>,
    pub state: Option<DeliveryState>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Deliveries, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE d.workspace_id = $1 AND ($2::uuid IS NULL OR d.id < $2)
           AND ($3::uuid IS NULL OR d.plan_id = $3) AND ($4::uuid IS NULL OR d.group_id = $4)
           AND ($5::text IS NULL OR d.state = $5) AND ($6::timestamptz IS NULL OR d.slot_at >= $6)
           AND ($7::timestamptz IS NULL OR d.slot_at < $7)
         ORDER BY d.id DESC LIMIT $8"
    ))
    .bind(ws)
    .bind(after)
    .bind(f.plan)
    .bind(f.group)
    .bind(f.state)
    .bind(f.from)
    .bind(f.to)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Delivery::from).collect())
}

/// One delivery.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: DeliveryId) -> Result<Option<Delivery>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE d.workspace_id = $1 AND d.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Delivery::from))
}

/// A group's robot: its kind, whether it signs (has a secret), when it was set.
pub async fn robot(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
) -> Result<Option<(super::model::RobotKind, bool, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, credentials ? 'secret', updated_at FROM group_robots WHERE workspace_id = $1 AND group_id = $2",
    )
    .bind(ws)
    .bind(group)
    .fetch_optional(conn)
    .await
}

/// Sets a group's robot (replacing one it had).
pub async fn put_robot(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    kind: super::model::RobotKind,
    credentials: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO group_robots (workspace_id, group_id, kind, credentials) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, group_id) DO UPDATE SET kind = $3, credentials = $4, updated_at = now()",
    )
    .bind(ws)
    .bind(group)
    .bind(kind)
    .bind(Json(credentials))
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a group's robot; `false` when it had none.
pub async fn delete_robot(conn: &mut PgConnection, ws: WorkspaceId, group: GroupId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM group_robots WHERE workspace_id = $1 AND group_id = $2")
        .bind(ws)
        .bind(group)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The robot kind of each of `groups` that has one.
pub async fn robot_kinds(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[Uuid],
) -> Result<Vec<(Uuid, super::model::RobotKind)>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, kind FROM group_robots WHERE workspace_id = $1 AND group_id = ANY($2)")
        .bind(ws)
        .bind(groups)
        .fetch_all(conn)
        .await
}

/// The robot credentials (`webhook_url`, optional `secret`) of each of
/// `groups` that has a robot.
pub async fn robot_credentials(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[GroupId],
) -> Result<Vec<(Uuid, Json<serde_json::Value>)>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, credentials FROM group_robots WHERE workspace_id = $1 AND group_id = ANY($2)")
        .bind(ws)
        .bind(groups)
        .fetch_all(conn)
        .await
}

/// A send to follow up: workspace, delivery, the platform's message id,
/// reminders so far, channel, connection credentials and settings.
pub type FollowUpDue =
    (WorkspaceId, DeliveryId, String, i32, Channel, Json<serde_json::Value>, Json<serde_json::Value>);

/// Takes up to 100 sends awaiting confirmation whose follow-up is due at
/// `now`, in one statement that moves their next follow-up to `next` (or
/// ends them after `max_reminders`), so no transaction is held across the
/// platform's calls and another instance skips them.
pub async fn claim_follow_ups(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
    max_reminders: i32,
) -> Result<Vec<FollowUpDue>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT workspace_id, id FROM deliveries
             WHERE state = 'awaiting_confirmation' AND next_reminder_at <= $1
             ORDER BY next_reminder_at LIMIT 100 FOR UPDATE SKIP LOCKED),
         moved AS (
             UPDATE deliveries d
             SET next_reminder_at = CASE WHEN d.platform_message_id IS NULL OR d.reminders + 1 >= $3 THEN NULL ELSE $2 END
             FROM due WHERE d.workspace_id = due.workspace_id AND d.id = due.id
             RETURNING d.workspace_id, d.id, d.platform_message_id, d.reminders, d.channel, d.connection_id)
         SELECT m.workspace_id, m.id, m.platform_message_id, m.reminders, m.channel, c.credentials, c.settings
         FROM moved m JOIN connections c ON c.workspace_id = m.workspace_id AND c.id = m.connection_id
         WHERE m.platform_message_id IS NOT NULL",
    )
    .persistent(false) // a polling claim: planned for the table as it is now
    .bind(now)
    .bind(next)
    .bind(max_reminders)
    .fetch_all(conn)
    .await
}

/// Counts one reminder sent for a delivery.
pub async fn count_reminder(conn: &mut PgConnection, ws: WorkspaceId, id: DeliveryId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET reminders = reminders + 1, updated_at = now() WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The LISTEN/NOTIFY channel announcing new deliveries (a wake-up only:
/// workers also poll, so correctness never depends on it).
pub const DELIVERIES_CHANNEL: &str = "shequn_deliveries";

/// Announces new deliveries, delivered at commit: wakes the delivery
/// workers of every instance.
pub async fn announce(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(DELIVERIES_CHANNEL).execute(conn).await?;
    Ok(())
}

/// A reply to a check-in made in chat.
#[derive(Debug)]
pub struct NewReply {
    pub check_in: Uuid,
    pub group: Uuid,
    pub member: Uuid,
    pub content: Uuid,
    pub connection: Option<Uuid>,
    pub channel: Channel,
    pub at: DateTime<Utc>,
    /// `at` in the group's timezone, `YYYY-MM-DDTHH:MM`.
    pub local_time: String,
    pub state: DeliveryState,
    pub message: Message,
    pub error: Option<String>,
}

/// Inserts the reply to a check-in, due at once (one per check-in: a
/// unique key); announce with [`announce`].
pub async fn insert_reply(conn: &mut PgConnection, ws: WorkspaceId, r: NewReply) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deliveries (workspace_id, id, check_in_id, group_id, member_id, content_id, connection_id, channel,
             slot_at, fire_at, local_time, state, message, last_error, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, CASE WHEN $11 = 'pending' THEN $9 END)
         ON CONFLICT (workspace_id, check_in_id) WHERE check_in_id IS NOT NULL DO NOTHING",
    )
    .bind(ws)
    .bind(Uuid::now_v7())
    .bind(r.check_in)
    .bind(r.group)
    .bind(r.member)
    .bind(r.content)
    .bind(r.connection)
    .bind(r.channel)
    .bind(r.at)
    .bind(r.local_time)
    .bind(r.state)
    .bind(Json(r.message))
    .bind(r.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// A delivery the scheduler creates.
#[derive(Debug)]
pub struct NewDelivery {
    pub plan: Uuid,
    pub step: Uuid,
    pub group: Uuid,
    /// Nil for a group-wide step.
    pub member: Uuid,
    pub content: Uuid,
    pub connection: Option<Uuid>,
    pub channel: Channel,
    pub slot: DateTime<Utc>,
    pub fire: DateTime<Utc>,
    /// The slot's nominal local time, `YYYY-MM-DDTHH:MM`.
    pub local_time: String,
    pub state: DeliveryState,
    pub message: Message,
    pub error: Option<String>,
}

/// Inserts deliveries; a slot that already has one is left alone (the
/// unique key makes concurrent schedulers create exactly one). Returns how many were new.
pub async fn insert_many(conn: &mut PgConnection, ws: WorkspaceId, rows: Vec<NewDelivery>) -> Result<u64, sqlx::Error> {
    // One statement over column arrays (unnest) for the whole pass.
    let n = rows.len();
    let mut d = Columns::with_capacity(n);
    for r in rows {
        d.ids.push(Uuid::now_v7());
        d.plans.push(r.plan);
        d.steps.push(r.step);
        d.groups.push(r.group);
        d.members.push(r.member);
        d.contents.push(r.content);
        d.connections.push(r.connection);
        d.channels.push(r.channel);
        d.slots.push(r.slot);
        d.fires.push(r.fire);
        d.local_times.push(r.local_time);
        d.states.push(r.state);
        d.messages.push(Json(r.message));
        d.errors.push(r.error);
    }
    let r = sqlx::query(
        "INSERT INTO deliveries (workspace_id, id, plan_id, step_id, group_id, member_id, content_id, connection_id, channel,
             slot_at, fire_at, local_time, state, message, last_error, next_attempt_at)
         SELECT $1, u.id, u.plan, u.step, u.grp, u.member, u.content, u.conn, u.channel, u.slot, u.fire, u.local, u.state,
             u.message, u.error, CASE WHEN u.state = 'pending' THEN u.fire END
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::uuid[], $9::text[],
                     $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::jsonb[], $15::text[])
             AS u(id, plan, step, grp, member, content, conn, channel, slot, fire, local, state, message, error)
         ON CONFLICT (workspace_id, step_id, group_id, member_id, slot_at) DO NOTHING",
    )
    .bind(ws)
    .bind(&d.ids)
    .bind(&d.plans)
    .bind(&d.steps)
    .bind(&d.groups)
    .bind(&d.members)
    .bind(&d.contents)
    .bind(&d.connections)
    .bind(&d.channels)
    .bind(&d.slots)
    .bind(&d.fires)
    .bind(&d.local_times)
    .bind(&d.states)
    .bind(&d.messages)
    .bind(&d.errors)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// [`NewDelivery`] rows as the column arrays `insert_many` binds.
struct Columns {
    ids: Vec<Uuid>,
    plans: Vec<Uuid>,
    steps: Vec<Uuid>,
    groups: Vec<Uuid>,
    members: Vec<Uuid>,
    contents: Vec<Uuid>,
    connections: Vec<Option<Uuid>>,
    channels: Vec<Channel>,
    slots: Vec<DateTime<Utc>>,
    fires: Vec<DateTime<Utc>>,
    local_times: Vec<String>,
    states: Vec<DeliveryState>,
    messages: Vec<Json<Message>>,
    errors: Vec<Option<String>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            plans: Vec::with_capacity(n),
            steps: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
            contents: Vec::with_capacity(n),
            connections: Vec::with_capacity(n),
            channels: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
            fires: Vec::with_capacity(n),
            local_times: Vec::with_capacity(n),
            states: Vec::with_capacity(n),
            messages: Vec::with_capacity(n),
            errors: Vec::with_capacity(n),
        }
    }
}

/// Deliveries of `group` whose slot falls in `from..to` and that count
/// towards a daily cap (not missed, not dead).
pub async fn count_capped(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE workspace_id = $1 AND group_id = $2 AND slot_at >= $3
           AND slot_at < $4 AND state NOT IN ('missed', 'dead')",
    )
    .bind(ws)
    .bind(group)
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
}

/// A delivery claimed by a worker, with what it needs to send.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub workspace_id: WorkspaceId,
    pub id: DeliveryId,
    pub group_id: GroupId,
    pub connection_id: Option<ConnectionId>,
    pub channel: Channel,
    pub fire_at: DateTime<Utc>,
    pub message: Json<Message>,
    /// This attempt's number.
    pub attempts: i32,
    /// Attempts made before the last manual retry.
    pub attempts_base: i32,
    pub external_id: String,
}

/// Claims due deliveries, except those through the connections in `skip`:
/// `sending`, one more attempt, leased until `lease_until`.
pub async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    skip: &[Uuid],
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT workspace_id, id FROM deliveries
             WHERE state IN ('pending', 'failed') AND next_attempt_at <= $1
               AND (connection_id IS NULL OR connection_id <> ALL($4))
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE deliveries d SET state = 'sending', attempts = d.attempts + 1, lease_until = $2, updated_at = now()
         FROM due, groups g
         WHERE d.workspace_id = due.workspace_id AND d.id = due.id AND g.workspace_id = d.workspace_id AND g.id = d.group_id
         RETURNING d.workspace_id, d.id, d.group_id, d.connection_id, d.channel, d.fire_at, d.message, d.attempts, d.attempts_base,
                   g.external_id",
    )
    // A polling claim: planned per call, since a plan cached while the table
    // was empty would join every due row against seq scans once a slot fires.
    .persistent(false)
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .bind(skip)
    .fetch_all(conn)
    .await
}

/// The recorded result of one claimed delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub workspace_id: WorkspaceId,
    pub id: DeliveryId,
    pub attempt: i32,
    pub state: DeliveryState,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub lateness_ms: Option<i64>,
    pub platform_message_id: Option<String>,
    pub error: Option<String>,
    pub next_reminder_at: Option<DateTime<Utc>>,
    /// `None`: the attempt did not happen (throttled locally) and is given back.
    pub log: Option<Attempt>,
}

impl Outcome {
    /// An outcome of a claimed delivery in `state`, everything else unset
    /// (no attempt logged: the attempt is given back unless `log` is set).
    pub fn of(c: &Claimed, state: DeliveryState) -> Self {
        Outcome {
            workspace_id: c.workspace_id,
            id: c.id,
            attempt: c.attempts,
            state,
            next_attempt_at: None,
            sent_at: None,
            lateness_ms: None,
            platform_message_id: None,
            error: None,
            next_reminder_at: None,
            log: None,
        }
    }
}

/// A delivery as an outcome left it (for the announcements).
#[derive(Debug, Clone, FromRow)]
pub struct Recorded {
    pub workspace_id: WorkspaceId,
    pub id: DeliveryId,
    pub plan_id: Option<PlanId>,
    pub step_id: Option<StepId>,
    pub group_id: GroupId,
    pub connection_id: Option<ConnectionId>,
    pub channel: Channel,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub slot_at: DateTime<Utc>,
    /// Whether an attempt was made (not given back unsent).
    pub attempted: bool,
}

/// Records outcomes in two statements; a delivery no longer `sending` at
/// this attempt (recovered meanwhile) is left alone. Returns the deliveries
/// changed, in the order of `outcomes`.
pub async fn record(conn: &mut PgConnection, outcomes: &[Outcome]) -> Result<Vec<Recorded>, sqlx::Error> {
    let col = |f: fn(&Outcome) -> Option<DateTime<Utc>>| outcomes.iter().map(f).collect::<Vec<_>>();
    let ws: Vec<Uuid> = outcomes.iter().map(|o| o.workspace_id.0).collect();
    let ids: Vec<Uuid> = outcomes.iter().map(|o| o.id.0).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|o| o.attempt).collect();
    let given_back: Vec<bool> = outcomes.iter().map(|o| o.log.is_none()).collect();
    let states: Vec<DeliveryState> = outcomes.iter().map(|o| o.state).collect();
    let lateness: Vec<Option<i64>> = outcomes.iter().map(|o| o.lateness_ms).collect();
    let msg_ids: Vec<Option<String>> = outcomes.iter().map(|o| o.platform_message_id.clone()).collect();
    let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.error.clone()).collect();
    let mut recorded: Vec<Recorded> = sqlx::query_as(
        "UPDATE deliveries d SET state = u.state, next_attempt_at = u.next_at, sent_at = coalesce(u.sent_at, d.sent_at),
             lateness_ms = coalesce(u.lateness, d.lateness_ms),
             platform_message_id = coalesce(u.msg_id, d.platform_message_id),
             last_error = CASE WHEN u.given_back THEN d.last_error ELSE u.error END,
             next_reminder_at = u.reminder_at, lease_until = NULL,
             attempts = d.attempts - CASE WHEN u.given_back THEN 1 ELSE 0 END, updated_at = now()
         FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[],
                     $8::text[], $9::text[], $10::timestamptz[], $11::bool[])
             AS u(ws, id, attempt, state, next_at, sent_at, lateness, msg_id, error, reminder_at, given_back)
         WHERE d.workspace_id = u.ws AND d.id = u.id AND d.state = 'sending' AND d.attempts = u.attempt
         RETURNING d.workspace_id, d.id, d.plan_id, d.step_id, d.group_id, d.connection_id, d.channel, d.state,
                   d.attempts, d.last_error, d.sent_at, d.slot_at, NOT u.given_back AS attempted",
    )
    .bind(&ws)
    .bind(&ids)
    .bind(&attempts)
    .bind(&states)
    .bind(col(|o| o.next_attempt_at))
    .bind(col(|o| o.sent_at))
    .bind(&lateness)
    .bind(&msg_ids)
    .bind(&errors)
    .bind(col(|o| o.next_reminder_at))
    .bind(&given_back)
    .fetch_all(&mut *conn)
    .await?;
    let order: std::collections::HashMap<DeliveryId, usize> =
        outcomes.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    recorded.sort_by_key(|r| order.get(&r.id).copied().unwrap_or(usize::MAX));
    let logged: Vec<(&Outcome, &Attempt)> = outcomes.iter().filter_map(|o| o.log.as_ref().map(|a| (o, a))).collect();
    if logged.is_empty() {
        return Ok(recorded);
    }
    sqlx::query(
        "INSERT INTO delivery_attempts (workspace_id, delivery_id, number, started_at, finished_at, outcome, http_status,
             response, error)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                              $7::int[], $8::text[], $9::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(logged.iter().map(|(o, _)| o.workspace_id.0).collect::<Vec<_>>())
    .bind(logged.iter().map(|(o, _)| o.id.0).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.number).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.started_at).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.finished_at).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.outcome.clone()).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.http_status).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.response.clone()).collect::<Vec<_>>())
    .bind(logged.iter().map(|(_, a)| a.error.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(recorded)
}

/// Deliveries whose sender stopped mid-call (lease expired): back to
/// `pending` where the receiver dedupes ([`Channel::idempotent`]), else
/// `uncertain`. Returns how many.
pub async fn recover_expired(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let retried: Vec<Channel> = Channel::ALL.into_iter().filter(|c| c.idempotent()).collect();
    let r = sqlx::query(
        "UPDATE deliveries SET lease_until = NULL, updated_at = now(),
             state = CASE WHEN channel = ANY($2) THEN 'pending' ELSE 'uncertain' END,
             next_attempt_at = CASE WHEN channel = ANY($2) THEN $1 END,
             last_error = 'the sender stopped before recording the platform''s answer'
         WHERE state = 'sending' AND lease_until < $1",
    )
    .persistent(false) // runs before every claim: planned for the table as it is now
    .bind(now)
    .bind(retried)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Moves a delivery from one of `from` to `to`; `false` when it was in none of them.
pub async fn transition(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: DeliveryId,
    from: &[DeliveryState],
    to: DeliveryState,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE deliveries SET state = $4, updated_at = now(),
             next_attempt_at = CASE WHEN $4 = 'pending' THEN $5 ELSE next_attempt_at END,
             attempts_base = CASE WHEN $4 = 'pending' THEN attempts ELSE attempts_base END,
             confirmed_at = CASE WHEN $4 = 'confirmed' THEN $5 ELSE confirmed_at END,
             next_reminder_at = CASE WHEN $4 = 'awaiting_confirmation' THEN next_reminder_at END
         WHERE workspace_id = $1 AND id = $2 AND state = ANY($3)",
    )
    .bind(ws)
    .bind(id)
    .bind(from.to_vec())
    .bind(to)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
