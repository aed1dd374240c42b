//! Funnel timelines: each member's events of a local month packed in
//! chunks of consecutive events (`metric_member_chunks`, kept by the rollup
//! worker through `chunks`), and per day and event type the members who had
//! one (`metric_type_days`). A funnel finds its starters in the type sets of
//! its days and reads their chunks, instead of the raw events of every
//! starter. The packed layout is described in the migration that creates the
//! chunks; [`pack`] writes one event and [`decode`] reads them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::events::model::TYPES;
use crate::metrics::params::Ctx;
use crate::metrics::period::local_day;
use crate::metrics::store::rows::Event;
use crate::metrics::store::sets;

const HAS_GROUP: u8 = 1;
const HAS_CAMPAIGN: u8 = 2;
const HAS_CODE: u8 = 4;

/// The code of a built-in event type (its position in `TYPES`).
pub fn type_code(kind: &str) -> Option<i16> {
    TYPES.iter().position(|t| *t == kind).and_then(|i| i16::try_from(i).ok())
}

/// Reads `n` bytes at `*at` and moves past them.
fn take<'a>(data: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let out = data.get(*at..at.checked_add(n)?)?;
    *at += n;
    Some(out)
}

fn uuid_at(data: &[u8], at: &mut usize) -> Option<Uuid> {
    take(data, at, 16).and_then(|b| Uuid::from_slice(b).ok())
}

/// Which packed events a read keeps: types (bit `code` set), instants in
/// `[lo, end)` (microseconds), groups of the scope (None: any, events
/// without a group included).
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    pub codes: u32,
    pub lo: i64,
    pub end: i64,
    pub groups: Option<&'a [Uuid]>,
}

/// Decodes the kept events of one member's packed events (`member` stands
/// for the member: the funnel only groups by it). `None` if the value is
/// malformed.
pub fn decode(member: Uuid, data: &[u8], keep: &Keep, out: &mut Vec<Event>) -> Option<()> {
    let mut at = 0;
    while at < data.len() {
        let head = take(data, &mut at, 2)?;
        let (code, flags) = (head[0], head[1]);
        let kind = TYPES.get(usize::from(code))?;
        let micros = i64::from_be_bytes(take(data, &mut at, 8)?.try_into().ok()?);
        let id = uuid_at(data, &mut at)?;
        let group_id = if flags & HAS_GROUP != 0 { Some(uuid_at(data, &mut at)?) } else { None };
        let campaign_id = if flags & HAS_CAMPAIGN != 0 { Some(uuid_at(data, &mut at)?) } else { None };
        let code_bytes = if flags & HAS_CODE != 0 {
            let len = u16::from_be_bytes(take(data, &mut at, 2)?.try_into().ok()?);
            Some(take(data, &mut at, usize::from(len))?)
        } else {
            None
        };
        let kept = keep.codes & (1 << code) != 0
            && (keep.lo..keep.end).contains(&micros)
            && keep.groups.is_none_or(|g| group_id.is_some_and(|id| g.contains(&id)));
        if !kept {
            continue;
        }
        out.push(Event {
            member_id: member,
            kind: (*kind).to_owned(),
            occurred_at: DateTime::from_timestamp_micros(micros)?,
            id,
            group_id,
            campaign_id,
            campaign_code: match code_bytes {
                Some(b) => Some(String::from_utf8(b.to_vec()).ok()?),
                None => None,
            },
            properties: None,
        });
    }
    Some(())
}

/// Packs one event as the chunks hold it (layout in the migration that
/// creates `metric_member_chunks`). A campaign code longer than 65,535 bytes
/// (ingestion allows far less) would be cut at a character boundary.
pub fn pack(
    code: u8,
    micros: i64,
    id: Uuid,
    group: Option<Uuid>,
    campaign: Option<Uuid>,
    campaign_code: Option<&str>,
) -> Vec<u8> {
    let flags = if group.is_some() { HAS_GROUP } else { 0 }
        | if campaign.is_some() { HAS_CAMPAIGN } else { 0 }
        | if campaign_code.is_some() { HAS_CODE } else { 0 };
    let mut out = Vec::with_capacity(26 + 32 + campaign_code.map_or(0, |c| c.len() + 2));
    out.extend([code, flags]);
    out.extend(micros.to_be_bytes());
    out.extend(id.as_bytes());
    for u in group.iter().chain(&campaign) {
        out.extend(u.as_bytes());
    }
    if let Some(c) = campaign_code {
        let mut end = c.len().min(usize::from(u16::MAX));
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        out.extend((end as u16).to_be_bytes());
        out.extend(&c.as_bytes()[..end]);
    }
    out
}

/// An event's place in a timeline: instant (µs since the epoch), id.
pub type Key = (i64, Uuid);

/// A chunk as a funnel reads it: member number, month, number, packed events.
type MonthRow = (i32, NaiveDate, i32, Vec<u8>);

/// The chunks of everyone with a step-1 type event (`first`) on a day of
/// the range whose number has parity `part` (in any group: the scope and step
/// 1's filters apply to the events), from the month of `from` to that of
/// `last`. One primary-key range per member (`OFFSET 0` keeps the planner
/// from scanning every row of the months instead, which it estimates cheaper
/// for thousands of members and is several times slower).
async fn months(
    conn: &mut PgConnection,
    c: &Ctx,
    first: i16,
    last: NaiveDate,
    part: i32,
) -> Result<Vec<MonthRow>, sqlx::Error> {
    let month = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    sqlx::query_as(
        "SELECT x.member_idx, x.month, x.seq, x.data
         FROM (SELECT DISTINCT k FROM (SELECT unnest(members) AS k FROM metric_type_days
                                       WHERE workspace_id = $1 AND type_code = $2 AND day BETWEEN $3 AND $4) u
               WHERE k % 2 = $7) s
         CROSS JOIN LATERAL (SELECT member_idx, month, seq, data FROM metric_member_chunks
                             WHERE workspace_id = $1 AND member_idx = s.k AND month BETWEEN $5 AND $6 OFFSET 0) x",
    )
    .bind(c.ws)
    .bind(first)
    .bind(c.from)
    .bind(c.to)
    .bind(month(c.from))
    .bind(month(last))
    .bind(part)
    .fetch_all(conn)
    .await
}

/// The events a funnel needs, as [`crate::metrics::store::repo::funnel_events`] returns them
/// (sorted by member, then time; the events of `types` in `[lo, end)` in the
/// scope, of counted members with a `first` event in `[lo, hi)`), from the
/// timelines. Members are stood for by their number; ids are not read.
/// Call only when [`serves`]. The starters are read in two halves, on two
/// connections sharing `conn`'s snapshot when the pool has one idle (each
/// starter costs an index lookup; two cores do them twice as fast).
pub async fn funnel_events(
    pool: &PgPool,
    conn: &mut PgConnection,
    c: &Ctx,
    first: &str,
    types: &[String],
    lo: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Event>, sqlx::Error> {
    let Some(first) = type_code(first) else { return Ok(Vec::new()) };
    let last = local_day(c.tz, end);
    let ((mask, mut rows), other) = crate::db::snapshot_reads(
        pool,
        conn,
        async |conn| Ok((sets::mask(&mut *conn, c).await?, months(conn, c, first, last, 0).await?)),
        async |conn| months(conn, c, first, last, 1).await,
    )
    .await?;
    rows.extend(other);
    rows.retain(|(k, ..)| u32::try_from(*k).is_ok_and(|k| mask.keeps(k)));
    rows.sort_unstable_by_key(|(k, month, seq, _)| (*k, *month, *seq));
    let keep = Keep {
        codes: types.iter().filter_map(|t| type_code(t)).fold(0, |acc, c| acc | 1 << c),
        lo: lo.timestamp_micros(),
        end: end.timestamp_micros(),
        groups: c.scope.groups.as_deref(),
    };
    let mut out = Vec::new();
    for (k, .., data) in rows {
        decode(Uuid::from_u128(u128::from(k.unsigned_abs())), &data, &keep, &mut out)
            .ok_or_else(|| sqlx::Error::Decode(format!("malformed timeline of member number {k}").into()))?;
    }
    // Chunks hold events in the order they were merged; where some arrived
    // late, the raw read's order is restored.
    let order = |e: &Event| (e.member_id, e.occurred_at, e.id);
    if !out.is_sorted_by_key(order) {
        out.sort_unstable_by_key(order);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event packed by hand as the migration describes it (the id: the instant's bits).
    fn packed(kind: &str, micros: i64, group: Option<Uuid>, campaign: Option<Uuid>, code: Option<&str>) -> Vec<u8> {
        let flags = u8::from(group.is_some()) | u8::from(campaign.is_some()) << 1 | u8::from(code.is_some()) << 2;
        let mut out = vec![u8::try_from(type_code(kind).unwrap()).unwrap(), flags];
        out.extend(micros.to_be_bytes());
        out.extend(Uuid::from_u128(micros as u128).as_bytes());
        out.extend(group.iter().chain(&campaign).flat_map(|u| *u.as_bytes()));
        if let Some(c) = code {
            out.extend(u16::try_from(c.len()).unwrap().to_be_bytes());
            out.extend(c.as_bytes());
        }
        out
    }

    #[test]
    fn packed_events_decode_and_filter() {
        let (g1, g2, camp) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut data = packed("member_joined", 1_000, Some(g1), None, None);
        data.extend(packed("link_clicked", 2_000, Some(g2), Some(camp), Some("春节-1")));
        data.extend(packed("order_paid", -5, None, None, Some("x")));
        data.extend(packed("message_sent", 9_000, Some(g1), None, None));
        let all = Keep { codes: u32::MAX, lo: i64::MIN, end: i64::MAX, groups: None };
        let mut out = Vec::new();
        decode(Uuid::from_u128(7), &data, &all, &mut out).unwrap();
        let kinds: Vec<&str> = out.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["member_joined", "link_clicked", "order_paid", "message_sent"]);
        assert_eq!(out[1].occurred_at.timestamp_micros(), 2_000);
        assert_eq!(out[2].occurred_at.timestamp_micros(), -5, "before 1970 too");
        assert_eq!((out[1].group_id, out[1].campaign_id), (Some(g2), Some(camp)));
        assert_eq!(out[1].campaign_code.as_deref(), Some("春节-1"));
        assert_eq!(out[1].id, Uuid::from_u128(2_000), "the event's id");
        assert_eq!((out[2].group_id, out[2].campaign_code.as_deref()), (None, Some("x")));
        assert!(out.iter().all(|e| e.member_id == Uuid::from_u128(7)));

        // Types, the time range (end exclusive) and the scope's groups.
        let joined_or_sent = 1 << type_code("member_joined").unwrap() | 1 << type_code("message_sent").unwrap();
        let mut out = Vec::new();
        decode(Uuid::nil(), &data, &Keep { codes: joined_or_sent, ..all }, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let mut out = Vec::new();
        decode(Uuid::nil(), &data, &Keep { lo: 1_000, end: 9_000, ..all }, &mut out).unwrap();
        assert_eq!(out.iter().map(|e| e.occurred_at.timestamp_micros()).collect::<Vec<_>>(), [1_000, 2_000]);
        let mut out = Vec::new();
        decode(Uuid::nil(), &data, &Keep { groups: Some(&[g1]), ..all }, &mut out).unwrap();
        assert_eq!(out.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["member_joined", "message_sent"]);

        // Truncated or corrupt values are refused, not read past.
        let records = [42, 26 + 32 + 2 + "春节-1".len(), 26 + 2 + 1, 42];
        let ends: Vec<usize> = records.iter().scan(0, |n, r| Some(std::mem::replace(n, *n + r) + r)).collect();
        assert_eq!(ends.last(), Some(&data.len()));
        for cut in 1..data.len() {
            let ok = decode(Uuid::nil(), &data[..cut], &all, &mut Vec::new()).is_some();
            assert_eq!(ok, ends.contains(&cut), "cut at {cut}");
        }
        let mut bad_type = data.clone();
        bad_type[0] = 200;
        assert!(decode(Uuid::nil(), &bad_type, &all, &mut Vec::new()).is_none());
    }

    #[test]
    fn pack_writes_the_documented_layout_and_keys_find_each_event() {
        let (g, camp) = (Uuid::from_u128(1), Uuid::from_u128(3));
        let code = |k: &str| u8::try_from(type_code(k).unwrap()).unwrap();
        let id = |m: i64| Uuid::from_u128(m as u128);
        let parts = [
            pack(code("member_joined"), 1_000, id(1_000), Some(g), None, None),
            pack(code("link_clicked"), 2_000, id(2_000), None, Some(camp), Some("春节-1")),
            pack(code("order_paid"), -5, id(-5), None, None, Some("x")),
        ];
        assert_eq!(parts[0], packed("member_joined", 1_000, Some(g), None, None));
        assert_eq!(parts[1], packed("link_clicked", 2_000, None, Some(camp), Some("春节-1")));
        assert_eq!(parts[2], packed("order_paid", -5, None, None, Some("x")));
        // A code too long for its length field is cut at a character boundary.
        let long = "节".repeat(30_000);
        let p = pack(0, 0, Uuid::nil(), None, None, Some(&long));
        let mut out = Vec::new();
        let all = Keep { codes: u32::MAX, lo: i64::MIN, end: i64::MAX, groups: None };
        decode(Uuid::nil(), &p, &all, &mut out).unwrap();
        assert_eq!(out[0].campaign_code.as_deref(), Some("节".repeat(21_845).as_str()));
    }

    #[test]
    fn built_in_types_are_coded_by_their_place_in_the_type_list() {
        assert_eq!(type_code("member_joined"), Some(0));
        assert_eq!(type_code("member_invited"), Some(10));
        assert_eq!(type_code("custom.vote"), None);
    }
}
