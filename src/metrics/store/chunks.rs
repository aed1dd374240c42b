//! The funnel timelines' chunks (`metric_member_chunks`): how the rollup
//! worker adds new events to them and rebuilds whole months from the raw
//! events. A member's events of a local month are chunks numbered from 0,
//! each closed once it holds [`CHUNK_BYTES`]. New events are appended to
//! the month's last chunk until it is full, then open the next ones —
//! whatever their instants, so a pass writes in proportion to what it adds
//! (a few hundred bytes per busy member) and never reads or rewrites what a
//! month already holds; a reader orders a member's events by (instant, id)
//! (`timelines::funnel_events`). A rebuild writes each month's events in
//! that order. The packed layout is described in the migration that creates
//! the table; `timelines` packs and reads events.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::model::TYPES;
use crate::metrics::period::day_start;
use crate::metrics::store::timelines::{pack, type_code, Key};
use crate::workspaces::model::Workspace;

/// A chunk is closed once it holds this many bytes (its last event may take
/// it past them).
pub const CHUNK_BYTES: usize = 1024;

/// One packed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub key: Key,
    pub bytes: Vec<u8>,
}

/// The new events of one member and local month, in key order.
#[derive(Debug, Clone)]
pub struct Additions {
    pub member_idx: i32,
    pub month: NaiveDate,
    pub events: Vec<Packed>,
}

/// A chunk to insert: how many events, their bytes.
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    events: i32,
    data: Vec<u8>,
}

/// Splits events (in key order) into chunks, each closed once it holds
/// [`CHUNK_BYTES`].
fn split<'a>(events: impl IntoIterator<Item = &'a [u8]>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut open: Option<Piece> = None;
    for bytes in events {
        let p = open.get_or_insert_with(|| Piece { events: 0, data: Vec::with_capacity(CHUNK_BYTES + 64) });
        p.events += 1;
        p.data.extend_from_slice(bytes);
        if p.data.len() >= CHUNK_BYTES {
            out.extend(open.take());
        }
    }
    out.extend(open);
    out
}

/// A month's last chunk: its number and size.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: i32,
    len: usize,
}

/// Adds new events to the timelines (each event once: the caller's queue
/// rows go in the same transaction).
pub async fn add(conn: &mut PgConnection, ws: Uuid, adds: &[Additions]) -> anyhow::Result<()> {
    let adds: Vec<&Additions> = adds.iter().filter(|a| !a.events.is_empty()).collect();
    if adds.is_empty() {
        return Ok(());
    }
    let last = last_chunks(conn, ws, &adds).await?;
    // Chunks to write: appended to (a month's last chunk, which the write
    // finds in place) or new.
    let mut rows: Vec<(i32, NaiveDate, i32, Piece)> = Vec::new();
    for (i, a) in adds.iter().enumerate() {
        let (mut taken, mut next) = (0, 0);
        if let Some(l) = last.get(&i) {
            let mut len = l.len;
            while taken < a.events.len() && len < CHUNK_BYTES {
                len += a.events[taken].bytes.len();
                taken += 1;
            }
            if taken > 0 {
                let data: Vec<u8> = a.events[..taken].iter().flat_map(|e| e.bytes.iter().copied()).collect();
                rows.push((a.member_idx, a.month, l.seq, Piece { events: taken as i32, data }));
            }
            next = l.seq + 1;
        }
        let pieces = split(a.events[taken..].iter().map(|e| e.bytes.as_slice()));
        rows.extend(pieces.into_iter().zip(next..).map(|(p, seq)| (a.member_idx, a.month, seq, p)));
    }
    write(conn, ws, rows, true).await?;
    Ok(())
}

/// Per addition (by index), its month's last chunk, if it has one: one
/// index probe each (`OFFSET 0` keeps the planner from joining the whole
/// table instead).
async fn last_chunks(conn: &mut PgConnection, ws: Uuid, adds: &[&Additions]) -> anyhow::Result<BTreeMap<usize, Last>> {
    let idx: Vec<i32> = adds.iter().map(|a| a.member_idx).collect();
    let months: Vec<NaiveDate> = adds.iter().map(|a| a.month).collect();
    let rows: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT q.k, c.seq, c.len
         FROM unnest($2::int4[], $3::date[]) WITH ORDINALITY AS q(idx, month, k)
         CROSS JOIN LATERAL (SELECT seq, octet_length(data) AS len FROM metric_member_chunks c
                             WHERE c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
                             ORDER BY c.seq DESC LIMIT 1 OFFSET 0) c",
    )
    .bind(ws)
    .bind(&idx)
    .bind(&months)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for (k, seq, len) in rows {
        out.insert(usize::try_from(k - 1)?, Last { seq, len: usize::try_from(len)? });
    }
    Ok(out)
}

/// Writes chunks: inserts them or, `appending`, appends each to the chunk
/// of its number when there is one (`ON CONFLICT`: one index probe per row
/// whatever the table holds, where an `UPDATE ... FROM` of the same rows
/// was planned as a hash join over all of the workspace's chunks — a second
/// per pass once they numbered 100,000).
async fn write(
    conn: &mut PgConnection,
    ws: Uuid,
    rows: Vec<(i32, NaiveDate, i32, Piece)>,
    appending: bool,
) -> Result<(), sqlx::Error> {
    macro_rules! insert_chunks {
        () => {
            "INSERT INTO metric_member_chunks AS c (workspace_id, member_idx, month, seq, events, data)
             SELECT $1, * FROM unnest($2::int4[], $3::date[], $4::int4[], $5::int4[], $6::bytea[])"
        };
    }
    const INSERT: &str = insert_chunks!();
    const APPEND: &str = concat!(
        insert_chunks!(),
        " ON CONFLICT (workspace_id, member_idx, month, seq)
         DO UPDATE SET data = c.data || EXCLUDED.data, events = c.events + EXCLUDED.events"
    );
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (idx, month, seq, p) in rows {
        c.0.push(idx);
        c.1.push(month);
        c.2.push(seq);
        c.3.push(p.events);
        c.4.push(p.data);
    }
    sqlx::query(if appending { APPEND } else { INSERT })
        .bind(ws)
        .bind(&c.0)
        .bind(&c.1)
        .bind(&c.2)
        .bind(&c.3)
        .bind(&c.4)
        .execute(conn)
        .await?;
    Ok(())
}

/// Local months, by their first day.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Rebuilds the timelines of these local months (`None`: every month; the
/// caller has numbered every member with events) from the raw events:
/// their chunks are deleted and each month's events are read in (member,
/// instant, id) order through a cursor, so memory holds one fetch.
pub async fn rebuild(conn: &mut PgConnection, w: &Workspace, months: &[NaiveDate], all: bool) -> anyhow::Result<()> {
    if all {
        sqlx::query("DELETE FROM metric_member_chunks WHERE workspace_id = $1").bind(w.id).execute(&mut *conn).await?;
    } else {
        sqlx::query("DELETE FROM metric_member_chunks WHERE workspace_id = $1 AND month = ANY($2)")
            .bind(w.id)
            .bind(months)
            .execute(&mut *conn)
            .await?;
    }
    let zone = crate::clock::zone(&w.timezone);
    for &month in months {
        let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(month);
        rebuild_month(conn, w.id.0, month, day_start(zone, month), day_start(zone, next)).await?;
    }
    Ok(())
}

/// Events fetched per round trip of a rebuild.
const FETCH: i64 = 20_000;

async fn rebuild_month(
    conn: &mut PgConnection,
    ws: Uuid,
    month: NaiveDate,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> anyhow::Result<()> {
    // Every value inlined is the application's own (a uuid, two instants,
    // the built-in type names), so the cursor needs no parameters.
    let types: Vec<String> = TYPES.iter().map(|t| format!("'{t}'")).collect();
    sqlx::query(&format!(
        "DECLARE metric_timeline NO SCROLL CURSOR FOR
         SELECT i.idx, e.type, e.occurred_at, e.id, e.group_id, e.campaign_id, e.campaign_code
         FROM events e JOIN metric_member_index i ON i.workspace_id = e.workspace_id AND i.member_id = e.member_id
         WHERE e.workspace_id = '{ws}' AND e.occurred_at >= '{}' AND e.occurred_at < '{}'
           AND e.member_id IS NOT NULL AND e.type IN ({})
         ORDER BY i.idx, e.occurred_at, e.id",
        lo.to_rfc3339(),
        hi.to_rfc3339(),
        types.join(", ")
    ))
    .execute(&mut *conn)
    .await?;
    let mut current: Option<(i32, Vec<Packed>)> = None;
    let mut pending: Vec<(i32, NaiveDate, i32, Piece)> = Vec::new();
    loop {
        type Raw = (i32, String, DateTime<Utc>, Uuid, Option<Uuid>, Option<Uuid>, Option<String>);
        let rows: Vec<Raw> =
            sqlx::query_as(&format!("FETCH {FETCH} FROM metric_timeline")).fetch_all(&mut *conn).await?;
        let done = (rows.len() as i64) < FETCH;
        for (idx, kind, at, id, group, campaign, code) in rows {
            let Some(c) = type_code(&kind).and_then(|c| u8::try_from(c).ok()) else { continue };
            let micros = at.timestamp_micros();
            let p = Packed { key: (micros, id), bytes: pack(c, micros, id, group, campaign, code.as_deref()) };
            match &mut current {
                Some((k, events)) if *k == idx => events.push(p),
                _ => {
                    if let Some((k, events)) = current.replace((idx, vec![p])) {
                        pending.extend(numbered(k, month, &events));
                    }
                }
            }
        }
        if pending.len() >= 2_000 || done {
            if done {
                if let Some((k, events)) = current.take() {
                    pending.extend(numbered(k, month, &events));
                }
            }
            write(conn, ws, std::mem::take(&mut pending), false).await?;
        }
        if done {
            break;
        }
    }
    sqlx::query("CLOSE metric_timeline").execute(&mut *conn).await?;
    Ok(())
}

/// A member's month (events in key order) as chunks numbered from 0.
fn numbered(idx: i32, month: NaiveDate, events: &[Packed]) -> impl Iterator<Item = (i32, NaiveDate, i32, Piece)> {
    split(events.iter().map(|e| e.bytes.as_slice())).into_iter().zip(0..).map(move |(p, seq)| (idx, month, seq, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_close_once_they_reach_the_limit_and_keep_the_order() {
        // Event n is 42 bytes of the value n.
        let events: Vec<Vec<u8>> = (0..300).map(|n| vec![n as u8; 42]).collect();
        let few = split(events[..10].iter().map(Vec::as_slice));
        assert_eq!(few.iter().map(|p| p.events).collect::<Vec<_>>(), [10], "an open chunk is kept");
        let pieces = split(events.iter().map(Vec::as_slice));
        // 25 events of 42 bytes reach 1,050 bytes: each chunk holds 25.
        assert_eq!(pieces.iter().map(|p| p.events).collect::<Vec<_>>(), [25; 12]);
        assert!(pieces.iter().all(|p| p.data.len() < CHUNK_BYTES + 42));
        // The second chunk runs from event 25 to event 49.
        assert_eq!((pieces[1].data[0], pieces[1].data[pieces[1].data.len() - 1]), (25, 49));
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.data.iter().copied()).collect();
        assert_eq!(joined, events.concat());
        assert!(split(std::iter::empty()).is_empty());
    }
}
