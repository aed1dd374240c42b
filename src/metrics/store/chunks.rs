//! The funnel timelines' chunks (`metric_member_chunks`): how the rollup
//! worker adds new events to them and rebuilds whole months from the raw
//! events. The chunks of one member and local month are consecutive runs of
//! its events in (instant, id) order, each closed once it holds
//! [`CHUNK_BYTES`]; a chunk's key is its first event's. Adding events
//! rewrites only the chunks they fall into: events after the month's last
//! event fill its last chunk and open new ones after it (the usual case:
//! a few hundred bytes appended per member and pass, whatever the month
//! already holds); an event that falls inside a chunk (a late one) has that
//! chunk merged with it and split again. The packed layout is described in
//! the migration that creates the table; `timelines` packs and reads events.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::events::model::TYPES;
use crate::metrics::period::day_start;
use crate::metrics::store::timelines::{keys, pack, type_code, Key};
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

/// A chunk to insert.
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    first: Key,
    last: Key,
    events: i32,
    data: Vec<u8>,
}

/// Splits events (in key order) into chunks, each closed once it holds
/// [`CHUNK_BYTES`].
fn split<'a>(events: impl IntoIterator<Item = (Key, &'a [u8])>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut open: Option<Piece> = None;
    for (key, bytes) in events {
        let p = open.get_or_insert_with(|| Piece {
            first: key,
            last: key,
            events: 0,
            data: Vec::with_capacity(CHUNK_BYTES + 64),
        });
        p.last = key;
        p.events += 1;
        p.data.extend_from_slice(bytes);
        if p.data.len() >= CHUNK_BYTES {
            out.extend(open.take());
        }
    }
    out.extend(open);
    out
}

/// Where a chunk is: member number, month, first key.
type At = (i32, NaiveDate, Key);

/// A chunk new events may fall into, as the writer sees it (no data).
#[derive(Debug, Clone)]
struct Meta {
    first: Key,
    last: Key,
    len: usize,
}

/// What one call writes.
#[derive(Default)]
struct Writes {
    delete: Vec<At>,
    insert: Vec<(i32, NaiveDate, Piece)>,
    /// Appended to a chunk: where, the bytes, the new last key, how many events.
    append: Vec<(At, Vec<u8>, Key, i32)>,
}

impl Writes {
    fn pieces(&mut self, idx: i32, month: NaiveDate, pieces: Vec<Piece>) {
        self.insert.extend(pieces.into_iter().map(|p| (idx, month, p)));
    }
}

/// Adds new events to the timelines (each event once: the caller's queue
/// rows go in the same transaction). Returns how many chunks it rewrote or
/// wrote.
pub async fn add(conn: &mut PgConnection, ws: Uuid, adds: &[Additions]) -> anyhow::Result<usize> {
    let adds: Vec<&Additions> = adds.iter().filter(|a| !a.events.is_empty()).collect();
    if adds.is_empty() {
        return Ok(0);
    }
    let metas = candidates(conn, ws, &adds).await?;
    let mut w = Writes::default();
    // Chunks to merge: (index in adds, chunk's first key) -> events falling into it.
    let mut merges: BTreeMap<(usize, Key), Vec<&Packed>> = BTreeMap::new();
    for (i, a) in adds.iter().enumerate() {
        let chunks = metas.get(&i).map(Vec::as_slice).unwrap_or_default();
        let Some(last) = chunks.last() else {
            w.pieces(a.member_idx, a.month, split(a.events.iter().map(|e| (e.key, e.bytes.as_slice()))));
            continue;
        };
        let (after, inside): (Vec<&Packed>, Vec<&Packed>) = a.events.iter().partition(|e| e.key > last.last);
        for e in inside {
            // The last chunk starting at or before the event; the first if none does.
            let at = chunks.partition_point(|c| c.first <= e.key).saturating_sub(1);
            merges.entry((i, chunks[at].first)).or_default().push(e);
        }
        if after.is_empty() {
            continue;
        }
        if let Some(into) = merges.get_mut(&(i, last.first)) {
            // The last chunk is merged anyway: the later events go with it.
            into.extend(after);
            continue;
        }
        // Fill the last chunk, then open new ones.
        let (mut len, mut taken) = (last.len, 0);
        while taken < after.len() && len < CHUNK_BYTES {
            len += after[taken].bytes.len();
            taken += 1;
        }
        if taken > 0 {
            let bytes: Vec<u8> = after[..taken].iter().flat_map(|e| e.bytes.iter().copied()).collect();
            w.append.push(((a.member_idx, a.month, last.first), bytes, after[taken - 1].key, taken as i32));
        }
        w.pieces(a.member_idx, a.month, split(after[taken..].iter().map(|e| (e.key, e.bytes.as_slice()))));
    }
    if !merges.is_empty() {
        let at: Vec<At> = merges.keys().map(|(i, first)| (adds[*i].member_idx, adds[*i].month, *first)).collect();
        let data = chunk_data(conn, ws, &at).await?;
        for (((i, _), new), at) in merges.into_iter().zip(at) {
            let old = data.get(&at).ok_or_else(|| anyhow::anyhow!("timeline chunk {at:?} vanished"))?;
            let old_keys = keys(old).ok_or_else(|| anyhow::anyhow!("malformed timeline chunk {at:?}"))?;
            let mut merged: Vec<(Key, &[u8])> = old_keys.into_iter().map(|(k, r)| (k, &old[r])).collect();
            merged.extend(new.iter().map(|e| (e.key, e.bytes.as_slice())));
            merged.sort_by_key(|(k, _)| *k);
            merged.dedup_by_key(|(k, _)| *k);
            w.delete.push(at);
            w.pieces(adds[i].member_idx, adds[i].month, split(merged));
        }
    }
    write(conn, ws, w).await
}

/// Per addition (by index), the chunks its events may fall into, in key
/// order: the last one starting before its first event, and every one
/// starting at or after it (so always the month's last chunk).
async fn candidates(
    conn: &mut PgConnection,
    ws: Uuid,
    adds: &[&Additions],
) -> anyhow::Result<BTreeMap<usize, Vec<Meta>>> {
    let idx: Vec<i32> = adds.iter().map(|a| a.member_idx).collect();
    let months: Vec<NaiveDate> = adds.iter().map(|a| a.month).collect();
    let at: Vec<i64> = adds.iter().map(|a| a.events[0].key.0).collect();
    let ids: Vec<Uuid> = adds.iter().map(|a| a.events[0].key.1).collect();
    let rows = sqlx::query(
        "SELECT q.k, c.first_at, c.first_id, c.last_at, c.last_id, c.len
         FROM unnest($2::int4[], $3::date[], $4::int8[], $5::uuid[]) WITH ORDINALITY AS q(idx, month, at, id, k)
         CROSS JOIN LATERAL (
             (SELECT first_at, first_id, last_at, last_id, octet_length(data) AS len FROM metric_member_chunks c
              WHERE c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
                AND (c.first_at, c.first_id) < (q.at, q.id)
              ORDER BY c.first_at DESC, c.first_id DESC LIMIT 1)
             UNION ALL
             (SELECT first_at, first_id, last_at, last_id, octet_length(data) FROM metric_member_chunks c
              WHERE c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
                AND (c.first_at, c.first_id) >= (q.at, q.id))) c",
    )
    .bind(ws)
    .bind(&idx)
    .bind(&months)
    .bind(&at)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<usize, Vec<Meta>> = BTreeMap::new();
    for r in rows {
        let k: i64 = r.try_get(0)?;
        let len: i32 = r.try_get(5)?;
        out.entry(usize::try_from(k - 1)?).or_default().push(Meta {
            first: (r.try_get(1)?, r.try_get(2)?),
            last: (r.try_get(3)?, r.try_get(4)?),
            len: usize::try_from(len)?,
        });
    }
    for chunks in out.values_mut() {
        chunks.sort_by_key(|c| c.first);
    }
    Ok(out)
}

/// The data of these chunks.
async fn chunk_data(conn: &mut PgConnection, ws: Uuid, at: &[At]) -> anyhow::Result<BTreeMap<At, Vec<u8>>> {
    let (idx, months, firsts, ids) = columns(at);
    let rows: Vec<(i32, NaiveDate, i64, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT c.member_idx, c.month, c.first_at, c.first_id, c.data
         FROM unnest($2::int4[], $3::date[], $4::int8[], $5::uuid[]) AS q(idx, month, at, id)
         JOIN metric_member_chunks c ON c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
          AND c.first_at = q.at AND c.first_id = q.id",
    )
    .bind(ws)
    .bind(&idx)
    .bind(&months)
    .bind(&firsts)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(i, m, a, id, d)| ((i, m, (a, id)), d)).collect())
}

fn columns(at: &[At]) -> (Vec<i32>, Vec<NaiveDate>, Vec<i64>, Vec<Uuid>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, m, (a, id)) in at {
        out.0.push(*i);
        out.1.push(*m);
        out.2.push(*a);
        out.3.push(*id);
    }
    out
}

/// Deletes, then inserts, then appends. Returns how many chunks were written.
async fn write(conn: &mut PgConnection, ws: Uuid, w: Writes) -> anyhow::Result<usize> {
    if !w.delete.is_empty() {
        let (idx, months, firsts, ids) = columns(&w.delete);
        sqlx::query(
            "DELETE FROM metric_member_chunks c
             USING unnest($2::int4[], $3::date[], $4::int8[], $5::uuid[]) AS q(idx, month, at, id)
             WHERE c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
               AND c.first_at = q.at AND c.first_id = q.id",
        )
        .bind(ws)
        .bind(&idx)
        .bind(&months)
        .bind(&firsts)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    }
    let written = w.insert.len() + w.append.len();
    insert(conn, ws, w.insert).await?;
    if !w.append.is_empty() {
        let at: Vec<At> = w.append.iter().map(|(at, ..)| *at).collect();
        let (idx, months, firsts, ids) = columns(&at);
        let mut bytes = Vec::with_capacity(w.append.len());
        let (mut last_at, mut last_id, mut n) = (Vec::new(), Vec::new(), Vec::new());
        for (_, b, (la, lid), count) in w.append {
            bytes.push(b);
            last_at.push(la);
            last_id.push(lid);
            n.push(count);
        }
        sqlx::query(
            "UPDATE metric_member_chunks c
             SET data = c.data || q.bytes, last_at = q.last_at, last_id = q.last_id, events = c.events + q.n
             FROM unnest($2::int4[], $3::date[], $4::int8[], $5::uuid[], $6::bytea[], $7::int8[], $8::uuid[],
                         $9::int4[]) AS q(idx, month, at, id, bytes, last_at, last_id, n)
             WHERE c.workspace_id = $1 AND c.member_idx = q.idx AND c.month = q.month
               AND c.first_at = q.at AND c.first_id = q.id",
        )
        .bind(ws)
        .bind(&idx)
        .bind(&months)
        .bind(&firsts)
        .bind(&ids)
        .bind(&bytes)
        .bind(&last_at)
        .bind(&last_id)
        .bind(&n)
        .execute(&mut *conn)
        .await?;
    }
    Ok(written)
}

async fn insert(conn: &mut PgConnection, ws: Uuid, rows: Vec<(i32, NaiveDate, Piece)>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (idx, month, p) in rows {
        c.0.push(idx);
        c.1.push(month);
        c.2.push(p.first.0);
        c.3.push(p.first.1);
        c.4.push(p.last.0);
        c.5.push(p.last.1);
        c.6.push(p.events);
        c.7.push(p.data);
    }
    sqlx::query(
        "INSERT INTO metric_member_chunks (workspace_id, member_idx, month, first_at, first_id, last_at, last_id,
                                           events, data)
         SELECT $1, * FROM unnest($2::int4[], $3::date[], $4::int8[], $5::uuid[], $6::int8[], $7::uuid[],
                                  $8::int4[], $9::bytea[])",
    )
    .bind(ws)
    .bind(&c.0)
    .bind(&c.1)
    .bind(&c.2)
    .bind(&c.3)
    .bind(&c.4)
    .bind(&c.5)
    .bind(&c.6)
    .bind(&c.7)
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
    let mut pending: Vec<(i32, NaiveDate, Piece)> = Vec::new();
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
                        pending.extend(
                            split(events.iter().map(|e| (e.key, e.bytes.as_slice())))
                                .into_iter()
                                .map(|p| (k, month, p)),
                        );
                    }
                }
            }
        }
        if pending.len() >= 2_000 || done {
            if done {
                if let Some((k, events)) = current.take() {
                    pending.extend(
                        split(events.iter().map(|e| (e.key, e.bytes.as_slice()))).into_iter().map(|p| (k, month, p)),
                    );
                }
            }
            insert(conn, ws, std::mem::take(&mut pending)).await?;
        }
        if done {
            break;
        }
    }
    sqlx::query("CLOSE metric_timeline").execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize, len: usize) -> (Key, Vec<u8>) {
        ((n as i64, Uuid::from_u128(n as u128)), vec![n as u8; len])
    }

    #[test]
    fn chunks_close_once_they_reach_the_limit_and_keep_the_order() {
        let events: Vec<(Key, Vec<u8>)> = (0..300).map(|n| ev(n, 42)).collect();
        let few = split(events[..10].iter().map(|(k, b)| (*k, b.as_slice())));
        assert_eq!(few.iter().map(|p| p.events).collect::<Vec<_>>(), [10], "an open chunk is kept");
        let pieces = split(events.iter().map(|(k, b)| (*k, b.as_slice())));
        // 25 events of 42 bytes reach 1,050 bytes: each chunk holds 25.
        assert_eq!(pieces.iter().map(|p| p.events).collect::<Vec<_>>(), [25; 12]);
        assert!(pieces.iter().all(|p| p.data.len() < CHUNK_BYTES + 42));
        assert_eq!(pieces[1].first, events[25].0);
        assert_eq!(pieces[1].last, events[49].0);
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.data.iter().copied()).collect();
        assert_eq!(joined, events.iter().flat_map(|(_, b)| b.iter().copied()).collect::<Vec<_>>());
        assert!(split(std::iter::empty()).is_empty());
    }
}
