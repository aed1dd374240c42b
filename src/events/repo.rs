//! All SQL of the event store.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Event, EventKind, EventSource};
use crate::ids::WorkspaceId;

/// A fully resolved event row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub group_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub campaign_code: Option<String>,
    pub order_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub properties: serde_json::Value,
    pub source: EventSource,
    /// A chat message's command text (never stored; see `NewEvent::text`).
    pub text: Option<String>,
}

impl Row {
    /// Whether this is a built-in join or leave (a membership event).
    pub fn is_membership(&self) -> bool {
        EventKind::parse(&self.kind).is_some_and(EventKind::is_membership)
    }
}

/// Inserts rows; returns the `(id, occurred_at)` of those not stored before.
///
/// Tried first as a plain `INSERT` inside a savepoint: it checks the primary
/// key while inserting into it, where `ON CONFLICT` first probes the key in a
/// separate descent (~15 % of the statement on the events table's
/// indexes). A batch holding an event stored before fails with a unique
/// violation, is rolled back to the savepoint and inserted again with
/// `ON CONFLICT DO NOTHING`, which reports the rows it stored.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[Row],
    received_at: DateTime<Utc>,
) -> Result<HashSet<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    // Key order, so concurrent batches with overlapping events cannot deadlock.
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (r.occurred_at, r.id));
    let rows = sorted;
    sqlx::query("SAVEPOINT events_insert").execute(&mut *conn).await?;
    match insert_sorted(conn, ws, &rows, received_at, false).await {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT events_insert").execute(&mut *conn).await?;
            Ok(rows.iter().map(|r| (r.id, r.occurred_at)).collect())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            sqlx::query("ROLLBACK TO SAVEPOINT events_insert").execute(&mut *conn).await?;
            let inserted = insert_sorted(conn, ws, &rows, received_at, true).await?;
            sqlx::query("RELEASE SAVEPOINT events_insert").execute(&mut *conn).await?;
            Ok(inserted.into_iter().collect())
        }
        Err(e) => Err(e),
    }
}

/// Inserts rows whose ids were just made (fresh UUIDv7s: none can be
/// stored already), in one statement without the savepoint of [`insert`].
pub async fn insert_new(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[Row],
    received_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (r.occurred_at, r.id));
    insert_sorted(conn, ws, &sorted, received_at, false).await?;
    Ok(())
}

/// The events insert of [`insert_sorted`], as a literal both spellings extend.
macro_rules! insert_events {
    () => {
        "INSERT INTO events (workspace_id, id, type, occurred_at, received_at, group_id, member_id,
             campaign_id, campaign_code, order_id, amount, currency, properties, source)
         SELECT $1, u.id, u.type, u.at, $2, u.g, u.m, u.c, u.code, u.o, u.amount, u.cur, u.props::jsonb, u.src
         FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::uuid[], $7::uuid[], $8::uuid[], $9::text[],
                     $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[])
              AS u(id, type, at, g, m, c, code, o, amount, cur, props, src)"
    };
}

/// One `INSERT` of rows in key order; `skip_stored` adds `ON CONFLICT DO
/// NOTHING` and returns the keys stored (else nothing: a conflict is an error).
async fn insert_sorted(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[&Row],
    received_at: DateTime<Utc>,
    skip_stored: bool,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    const INSERT: &str = insert_events!();
    const SKIPPING: &str = concat!(insert_events!(), " ON CONFLICT DO NOTHING RETURNING id, occurred_at");
    let col = |f: &dyn Fn(&Row) -> Option<Uuid>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.occurred_at).collect();
    let props: Vec<String> = rows.iter().map(|r| r.properties.to_string()).collect();
    let sources: Vec<EventSource> = rows.iter().map(|r| r.source).collect();
    let query = sqlx::query_as(if skip_stored { SKIPPING } else { INSERT })
        .bind(ws)
        .bind(received_at)
        .bind(&ids)
        .bind(&kinds)
        .bind(&times)
        .bind(col(&|r| r.group_id))
        .bind(col(&|r| r.member_id))
        .bind(col(&|r| r.campaign_id))
        .bind(rows.iter().map(|r| r.campaign_code.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.order_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.currency.clone()).collect::<Vec<_>>())
        .bind(&props)
        .bind(&sources);
    query.fetch_all(conn).await
}

/// Claims orders as paid by these events; returns, for orders already paid
/// by another event, that event's id.
pub async fn claim_payments(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    claims: &[(String, Uuid, DateTime<Utc>)],
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    if claims.is_empty() {
        return Ok(HashMap::new());
    }
    let orders: Vec<&str> = claims.iter().map(|c| c.0.as_str()).collect();
    let events: Vec<Uuid> = claims.iter().map(|c| c.1).collect();
    let times: Vec<DateTime<Utc>> = claims.iter().map(|c| c.2).collect();
    sqlx::query(
        "INSERT INTO order_payments (workspace_id, order_id, event_id, paid_at)
         SELECT $1, u.o, u.e, u.t FROM unnest($2::text[], $3::uuid[], $4::timestamptz[]) AS u(o, e, t)
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(&orders)
    .bind(&events)
    .bind(&times)
    .execute(&mut *conn)
    .await?;
    let owners: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT order_id, event_id FROM order_payments WHERE workspace_id = $1 AND order_id = ANY($2)")
            .bind(ws)
            .bind(&orders)
            .fetch_all(conn)
            .await?;
    let claimed: HashMap<&str, Uuid> = claims.iter().map(|c| (c.0.as_str(), c.1)).collect();
    Ok(owners.into_iter().filter(|(o, e)| claimed.get(o.as_str()) != Some(e)).collect())
}

/// A position in a time-ordered list: after (occurred_at, id), descending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl TimeCursor {
    /// Text form: `<microseconds since 1970>.<event id>`, as the `cursor`
    /// parameter's pattern publishes it.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }

    /// Parses the text form, or the base64 `e1:` form earlier versions answered.
    pub fn decode(s: &str) -> Option<Self> {
        if let Some((micros, id)) = s.split_once('.') {
            let digits = micros.strip_prefix('-').unwrap_or(micros);
            if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) || id.len() != 36 {
                return None;
            }
            let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            return Some(Self { at, id: id.parse().ok()? });
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let mut parts = raw.strip_prefix("e1:")?.splitn(2, ':');
        let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = parts.next()?.parse().ok()?;
        Some(Self { at, id })
    }
}

/// Event filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub kinds: Vec<String>,
    pub group_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Events matching `f`, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<TimeCursor>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, type, occurred_at, received_at, group_id, member_id, campaign_id, campaign_code, order_id, amount,
                currency, properties, source
         FROM events
         WHERE workspace_id = $1
           AND (cardinality($2::text[]) = 0 OR type = ANY($2))
           AND ($3::uuid IS NULL OR group_id = $3) AND ($4::uuid IS NULL OR member_id = $4)
           AND ($5::uuid IS NULL OR campaign_id = $5)
           AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)
           AND ($8::timestamptz IS NULL OR (occurred_at, id) < ($8, $9))
         ORDER BY occurred_at DESC, id DESC LIMIT $10",
    )
    .bind(ws)
    .bind(&f.kinds)
    .bind(f.group_id)
    .bind(f.member_id)
    .bind(f.campaign_id)
    .bind(f.from)
    .bind(f.to)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Creates the monthly partitions from `from` for `months` months
/// (idempotent). Instances take turns through a transaction-scoped
/// advisory lock: call it inside a transaction.
pub async fn ensure_partitions(conn: &mut PgConnection, from: DateTime<Utc>, months: i32) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(7341002)").execute(&mut *conn).await?;
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE shequn_ensure_event_partition(
                    (date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') + make_interval(months => m))::date))
         FROM generate_series(0, $2 - 1) AS m",
    )
    .bind(from)
    .bind(months)
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_cursors_round_trip_and_refuse_garbage() {
        let c = TimeCursor { at: "2026-11-20T02:01:00.123456Z".parse().unwrap(), id: Uuid::now_v7() };
        assert_eq!(TimeCursor::decode(&c.encode()), Some(c));
        assert_eq!(TimeCursor::decode("nope"), None);
        assert_eq!(TimeCursor::decode(&URL_SAFE_NO_PAD.encode("e1:x:y")), None);
    }
}

/// A stored join or leave of one (member, group) pair.
#[derive(Debug, Clone)]
pub struct MembershipRow {
    pub member_id: Uuid,
    pub group_id: Uuid,
    pub id: Uuid,
    /// A join (else a leave).
    pub joined: bool,
    pub occurred_at: DateTime<Utc>,
    pub properties: serde_json::Value,
}

/// Every stored join and leave of the pairs `(members[i], groups[i])`.
pub async fn membership_events(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    members: &[Uuid],
    groups: &[Uuid],
) -> Result<Vec<MembershipRow>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Raw {
        m: Uuid,
        g: Uuid,
        id: Uuid,
        #[sqlx(rename = "type")]
        kind: String,
        occurred_at: DateTime<Utc>,
        properties: sqlx::types::Json<serde_json::Value>,
    }
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT p.m, p.g, e.id, e.type, e.occurred_at, e.properties
         FROM unnest($2::uuid[], $3::uuid[]) AS p(m, g)
         CROSS JOIN LATERAL (SELECT id, type, occurred_at, properties FROM events
                             WHERE workspace_id = $1 AND member_id = p.m AND group_id = p.g
                               AND type IN ('member_joined', 'member_left')) e",
    )
    .bind(ws)
    .bind(members)
    .bind(groups)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MembershipRow {
            member_id: r.m,
            group_id: r.g,
            id: r.id,
            joined: EventKind::MemberJoined.is(&r.kind),
            occurred_at: r.occurred_at,
            properties: r.properties.0,
        })
        .collect())
}
