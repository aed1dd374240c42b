//! Merging newly stored events into the rollups: what a pass does with the
//! queue rows that name events (`rollup` chooses them and deletes them in
//! the same transaction, so each event is merged exactly once). Its cost
//! follows the new events and the members, groups and days they touch:
//!
//! - member-day counters are added to (`metric_member_days`, one upsert);
//! - new members are numbered, first active days moved earlier;
//! - the day sets of each touched group and day (`metric_group_days`), of
//!   each touched day (`metric_days`) and the per-type sets of each touched
//!   day and type (`metric_type_days`) are derived again from that group's or
//!   day's member-day rows — one row per member, however many events;
//! - the funnel timelines get the new events (`chunks::add`);
//! - orders, refunds and campaign clicks are merged by order and event as the
//!   whole-day path merges them, the orders they can re-attribute are
//!   attributed again, and the payment days of every order that changed are
//!   repacked (`order_days`; the one step that costs in proportion to a day's
//!   orders, taken only when orders or clicks arrive).
//!
//! The result equals a recompute from the raw events (the whole-day path of
//! `rollup`); the metrics tests check one against the other after every pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::model::TYPES;
use crate::metrics::period::local_day;
use crate::metrics::store::chunks::{self, month_of, Additions, Packed};
use crate::metrics::store::order_days;
use crate::metrics::store::rows::DEFAULT_ATTRIBUTION_DAYS;
use crate::metrics::store::timelines::{self, type_code};
use crate::workspaces::model::Workspace;

/// What the rollups read of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
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
}

impl From<&crate::events::repo::Row> for NewEvent {
    fn from(r: &crate::events::repo::Row) -> Self {
        NewEvent {
            id: r.id,
            kind: r.kind.clone(),
            occurred_at: r.occurred_at,
            group_id: r.group_id,
            member_id: r.member_id,
            campaign_id: r.campaign_id,
            campaign_code: r.campaign_code.clone(),
            order_id: r.order_id.clone(),
            amount: r.amount,
            currency: r.currency.clone(),
        }
    }
}

const GROUP: u8 = 1;
const MEMBER: u8 = 2;
const CAMPAIGN: u8 = 4;
const CODE: u8 = 8;
const ORDER: u8 = 16;
const AMOUNT: u8 = 32;
const CURRENCY: u8 = 64;

/// Packs events as a queue row holds them (`metric_dirty_days.events`):
/// per event, big-endian, id (16 B), instant (i64 µs), flags (1 B), type
/// (u16 length + UTF-8), then what the flags say is there — group, member,
/// campaign id (16 B each), campaign code and order id (u16 length + UTF-8
/// each), amount (i64), currency (u16 length + UTF-8). Texts are as
/// ingestion validated them (far shorter than 65,535 bytes; longer would be
/// cut at a character boundary).
pub fn pack(events: &[NewEvent]) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, t: &str) {
        let mut end = t.len().min(usize::from(u16::MAX));
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        out.extend((end as u16).to_be_bytes());
        out.extend(&t.as_bytes()[..end]);
    }
    let mut out = Vec::with_capacity(events.len() * 80);
    for e in events {
        out.extend(e.id.as_bytes());
        out.extend(e.occurred_at.timestamp_micros().to_be_bytes());
        let flags = [
            (e.group_id.is_some(), GROUP),
            (e.member_id.is_some(), MEMBER),
            (e.campaign_id.is_some(), CAMPAIGN),
            (e.campaign_code.is_some(), CODE),
            (e.order_id.is_some(), ORDER),
            (e.amount.is_some(), AMOUNT),
            (e.currency.is_some(), CURRENCY),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0u8, |acc, (_, bit)| acc | bit);
        out.push(flags);
        text(&mut out, &e.kind);
        for u in [e.group_id, e.member_id, e.campaign_id].into_iter().flatten() {
            out.extend(u.as_bytes());
        }
        for t in [&e.campaign_code, &e.order_id].into_iter().flatten() {
            text(&mut out, t);
        }
        if let Some(a) = e.amount {
            out.extend(a.to_be_bytes());
        }
        if let Some(c) = &e.currency {
            text(&mut out, c);
        }
    }
    out
}

/// Reads what [`pack`] wrote; `None` if the value is malformed.
pub fn unpack(data: &[u8]) -> Option<Vec<NewEvent>> {
    fn take<'a>(data: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let out = data.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(out)
    }
    fn uuid(data: &[u8], at: &mut usize) -> Option<Uuid> {
        Uuid::from_slice(take(data, at, 16)?).ok()
    }
    fn i64_at(data: &[u8], at: &mut usize) -> Option<i64> {
        Some(i64::from_be_bytes(take(data, at, 8)?.try_into().ok()?))
    }
    fn text(data: &[u8], at: &mut usize) -> Option<String> {
        let len = u16::from_be_bytes(take(data, at, 2)?.try_into().ok()?);
        String::from_utf8(take(data, at, usize::from(len))?.to_vec()).ok()
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let id = uuid(data, &mut at)?;
        let occurred_at = DateTime::from_timestamp_micros(i64_at(data, &mut at)?)?;
        let flags = *take(data, &mut at, 1)?.first()?;
        let kind = text(data, &mut at)?;
        let opt_uuid = |bit: u8, at: &mut usize| if flags & bit != 0 { uuid(data, at).map(Some) } else { Some(None) };
        let group_id = opt_uuid(GROUP, &mut at)?;
        let member_id = opt_uuid(MEMBER, &mut at)?;
        let campaign_id = opt_uuid(CAMPAIGN, &mut at)?;
        let opt_text = |bit: u8, at: &mut usize| if flags & bit != 0 { text(data, at).map(Some) } else { Some(None) };
        let campaign_code = opt_text(CODE, &mut at)?;
        let order_id = opt_text(ORDER, &mut at)?;
        let amount = if flags & AMOUNT != 0 { Some(i64_at(data, &mut at)?) } else { None };
        let currency = opt_text(CURRENCY, &mut at)?;
        out.push(NewEvent {
            id,
            kind,
            occurred_at,
            group_id,
            member_id,
            campaign_id,
            campaign_code,
            order_id,
            amount,
            currency,
        });
    }
    Some(out)
}

/// One member-day row's additions.
#[derive(Debug, Default, Clone)]
struct Counts {
    events: i32,
    active: i32,
    messages: i32,
    check_ins: i32,
    link_clicks: i32,
    coupons_claimed: i32,
    coupons_redeemed: i32,
    orders_placed: i32,
    orders_paid: i32,
    invites: i32,
    first_active_at: Option<DateTime<Utc>>,
    types: i32,
}

impl Counts {
    fn add(&mut self, e: &NewEvent, active: bool) {
        self.events += 1;
        let counter = match e.kind.as_str() {
            "message_sent" => Some(&mut self.messages),
            "checked_in" => Some(&mut self.check_ins),
            "link_clicked" => Some(&mut self.link_clicks),
            "coupon_claimed" => Some(&mut self.coupons_claimed),
            "coupon_redeemed" => Some(&mut self.coupons_redeemed),
            "order_placed" => Some(&mut self.orders_placed),
            "order_paid" => Some(&mut self.orders_paid),
            "member_invited" => Some(&mut self.invites),
            _ => None,
        };
        if let Some(c) = counter {
            *c += 1;
        }
        if active {
            self.active += 1;
            self.first_active_at = Some(self.first_active_at.map_or(e.occurred_at, |t| t.min(e.occurred_at)));
        }
        if let Some(code) = type_code(&e.kind) {
            self.types |= 1 << code;
        }
    }
}

/// What one pass merges, folded in as its queue rows are read (each row's
/// events unpacked, added and dropped, so memory holds the pass's member-day
/// counters and packed timeline records rather than every event it merges),
/// then written by [`Merge::write`].
pub struct Merge<'w> {
    w: &'w Workspace,
    zone: chrono_tz::Tz,
    rows: BTreeMap<(NaiveDate, Uuid, Uuid), Counts>,
    first_active: BTreeMap<Uuid, NaiveDate>,
    /// Packed timeline records by member and local month.
    timelines: BTreeMap<(Uuid, NaiveDate), Vec<Packed>>,
    /// The payments, refunds and campaign clicks (all the orders step reads).
    orders: Vec<NewEvent>,
    /// Events added.
    pub events: usize,
}

impl<'w> Merge<'w> {
    pub fn new(w: &'w Workspace) -> Self {
        Merge {
            w,
            zone: crate::clock::zone(&w.timezone),
            rows: BTreeMap::new(),
            first_active: BTreeMap::new(),
            timelines: BTreeMap::new(),
            orders: Vec::new(),
            events: 0,
        }
    }

    /// Adds events (each stored and not yet merged).
    pub fn add(&mut self, events: Vec<NewEvent>) {
        let nil = Uuid::nil();
        for e in events {
            self.events += 1;
            if let Some(member) = e.member_id {
                let day = local_day(self.zone, e.occurred_at);
                let active = self.w.active_event_types.contains(&e.kind);
                self.rows.entry((day, e.group_id.unwrap_or(nil), member)).or_default().add(&e, active);
                if active {
                    let d = self.first_active.entry(member).or_insert(day);
                    *d = (*d).min(day);
                }
                if let Some(code) = type_code(&e.kind).and_then(|c| u8::try_from(c).ok()) {
                    let micros = e.occurred_at.timestamp_micros();
                    let bytes =
                        timelines::pack(code, micros, e.id, e.group_id, e.campaign_id, e.campaign_code.as_deref());
                    self.timelines
                        .entry((member, month_of(day)))
                        .or_default()
                        .push(Packed { key: (micros, e.id), bytes });
                }
            }
            let order = e.order_id.is_some() && (e.kind == "order_paid" || e.kind == "order_refunded");
            if order || (e.kind == "link_clicked" && e.member_id.is_some() && e.campaign_id.is_some()) {
                self.orders.push(e);
            }
        }
    }

    /// Writes what was added into the rollups.
    pub async fn write(self, conn: &mut PgConnection) -> anyhow::Result<()> {
        let w = self.w;
        if !self.rows.is_empty() {
            member_days(conn, w, &self.rows).await.context("member days")?;
            let members: Vec<Uuid> =
                self.rows.keys().map(|(_, _, m)| *m).collect::<BTreeSet<_>>().into_iter().collect();
            let numbers = number(conn, w, &members, &self.first_active).await.context("member index")?;
            day_sets(conn, w, &self.rows).await.context("day sets")?;
            timelines(conn, w, self.timelines, &numbers).await.context("timelines")?;
        }
        orders(conn, w, &self.orders).await.context("orders")?;
        Ok(())
    }
}

/// Adds the counters to the member-day rows (creating them as needed).
async fn member_days(
    conn: &mut PgConnection,
    w: &Workspace,
    rows: &BTreeMap<(NaiveDate, Uuid, Uuid), Counts>,
) -> Result<(), sqlx::Error> {
    let mut day = Vec::with_capacity(rows.len());
    let mut group = Vec::with_capacity(rows.len());
    let mut member = Vec::with_capacity(rows.len());
    let mut n: [Vec<i32>; 11] = Default::default();
    let mut first = Vec::with_capacity(rows.len());
    for ((d, g, m), c) in rows {
        day.push(*d);
        group.push(*g);
        member.push(*m);
        let values = [
            c.events,
            c.active,
            c.messages,
            c.check_ins,
            c.link_clicks,
            c.coupons_claimed,
            c.coupons_redeemed,
            c.orders_placed,
            c.orders_paid,
            c.invites,
            c.types,
        ];
        for (col, v) in n.iter_mut().zip(values) {
            col.push(v);
        }
        first.push(c.first_active_at);
    }
    sqlx::query(
        "INSERT INTO metric_member_days AS d (workspace_id, day, group_id, member_id, events, active_events, messages,
             check_ins, link_clicks, coupons_claimed, coupons_redeemed, orders_placed, orders_paid, invites, types,
             first_active_at)
         SELECT $1, * FROM unnest($2::date[], $3::uuid[], $4::uuid[], $5::int4[], $6::int4[], $7::int4[], $8::int4[],
                                  $9::int4[], $10::int4[], $11::int4[], $12::int4[], $13::int4[], $14::int4[],
                                  $15::int4[], $16::timestamptz[])
         ON CONFLICT (workspace_id, day, group_id, member_id) DO UPDATE SET
             events = d.events + EXCLUDED.events, active_events = d.active_events + EXCLUDED.active_events,
             messages = d.messages + EXCLUDED.messages, check_ins = d.check_ins + EXCLUDED.check_ins,
             link_clicks = d.link_clicks + EXCLUDED.link_clicks,
             coupons_claimed = d.coupons_claimed + EXCLUDED.coupons_claimed,
             coupons_redeemed = d.coupons_redeemed + EXCLUDED.coupons_redeemed,
             orders_placed = d.orders_placed + EXCLUDED.orders_placed,
             orders_paid = d.orders_paid + EXCLUDED.orders_paid, invites = d.invites + EXCLUDED.invites,
             types = d.types | EXCLUDED.types, first_active_at = LEAST(d.first_active_at, EXCLUDED.first_active_at)",
    )
    .bind(w.id)
    .bind(&day)
    .bind(&group)
    .bind(&member)
    .bind(&n[0])
    .bind(&n[1])
    .bind(&n[2])
    .bind(&n[3])
    .bind(&n[4])
    .bind(&n[5])
    .bind(&n[6])
    .bind(&n[7])
    .bind(&n[8])
    .bind(&n[9])
    .bind(&n[10])
    .bind(&first)
    .execute(conn)
    .await?;
    Ok(())
}

/// Numbers the members who have none yet (after the workspace's highest, in
/// member id order — the caller holds the roller's lock), moves first active
/// days earlier, fills in the staff mask's numbers, and returns every given
/// member's number.
async fn number(
    conn: &mut PgConnection,
    w: &Workspace,
    members: &[Uuid],
    first_active: &BTreeMap<Uuid, NaiveDate>,
) -> Result<HashMap<Uuid, i32>, sqlx::Error> {
    let numbered = sqlx::query(
        "INSERT INTO metric_member_index (workspace_id, member_id, idx)
         SELECT $1, n.m,
                (SELECT COALESCE(max(idx), -1) FROM metric_member_index WHERE workspace_id = $1)
                    + row_number() OVER (ORDER BY n.m)
         FROM unnest($2::uuid[]) AS n(m)
         WHERE NOT EXISTS (SELECT 1 FROM metric_member_index i WHERE i.workspace_id = $1 AND i.member_id = n.m)",
    )
    .bind(w.id)
    .bind(members)
    .execute(&mut *conn)
    .await?;
    if !first_active.is_empty() {
        let (who, day): (Vec<Uuid>, Vec<NaiveDate>) = first_active.iter().map(|(m, d)| (*m, *d)).unzip();
        sqlx::query(
            "UPDATE metric_member_index i SET first_active = x.day
             FROM unnest($2::uuid[], $3::date[]) AS x(m, day)
             WHERE i.workspace_id = $1 AND i.member_id = x.m AND (i.first_active IS NULL OR i.first_active > x.day)",
        )
        .bind(w.id)
        .bind(&who)
        .bind(&day)
        .execute(&mut *conn)
        .await?;
    }
    if numbered.rows_affected() > 0 {
        crate::metrics::store::rollup::fill_excluded(&mut *conn, w.id).await?;
    }
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT member_id, idx FROM metric_member_index WHERE workspace_id = $1 AND member_id = ANY($2)",
    )
    .bind(w.id)
    .bind(members)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Derives again the sets of the touched groups and days, and the per-type
/// sets of the touched days and types, from their member-day rows.
async fn day_sets(
    conn: &mut PgConnection,
    w: &Workspace,
    rows: &BTreeMap<(NaiveDate, Uuid, Uuid), Counts>,
) -> Result<(), sqlx::Error> {
    let pairs: BTreeSet<(NaiveDate, Uuid)> = rows.keys().map(|(d, g, _)| (*d, *g)).collect();
    let (pair_days, pair_groups): (Vec<NaiveDate>, Vec<Uuid>) = pairs.iter().copied().unzip();
    let mut types: BTreeMap<NaiveDate, i32> = BTreeMap::new();
    for ((d, _, _), c) in rows {
        *types.entry(*d).or_default() |= c.types;
    }
    let days: Vec<NaiveDate> = types.keys().copied().collect();
    let (type_days, codes): (Vec<NaiveDate>, Vec<i16>) = types
        .iter()
        .flat_map(|(d, bits)| (0..TYPES.len() as i16).filter(move |c| bits & (1 << c) != 0).map(move |c| (*d, c)))
        .unzip();
    let statements = include_str!("sql/day_sets_touched.sql").split("\n--\n");
    for (n, statement) in statements.enumerate() {
        let q = sqlx::query(statement).bind(w.id);
        let q = match n {
            0 => q.bind(&pair_days).bind(&pair_groups),
            1 | 2 => q.bind(&days),
            _ => q.bind(&type_days).bind(&codes),
        };
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds the packed records (by member and local month) to the timelines.
async fn timelines(
    conn: &mut PgConnection,
    w: &Workspace,
    by: BTreeMap<(Uuid, NaiveDate), Vec<Packed>>,
    numbers: &HashMap<Uuid, i32>,
) -> anyhow::Result<()> {
    let mut adds = Vec::with_capacity(by.len());
    for ((member, month), mut events) in by {
        let member_idx = *numbers.get(&member).context("a member without a number")?;
        events.sort_by_key(|e| e.key);
        adds.push(Additions { member_idx, month, events });
    }
    chunks::add(conn, w.id.0, &adds).await?;
    Ok(())
}

/// Merges payments, refunds and campaign clicks, attributes again the
/// orders they can change, and repacks the payment days of those orders.
async fn orders(conn: &mut PgConnection, w: &Workspace, events: &[NewEvent]) -> anyhow::Result<()> {
    fn of<'a>(events: &'a [NewEvent], kind: &'a str) -> impl Iterator<Item = &'a NewEvent> {
        events.iter().filter(move |e| e.kind == kind && e.order_id.is_some())
    }
    let paid: Vec<&NewEvent> = of(events, "order_paid").collect();
    // An order's refund is its earliest (ties: smallest id), whatever order they arrive in.
    let mut refunds: BTreeMap<&str, &NewEvent> = BTreeMap::new();
    for e in of(events, "order_refunded") {
        let Some(order) = e.order_id.as_deref() else { continue };
        let r = refunds.entry(order).or_insert(e);
        if (e.occurred_at, e.id) < (r.occurred_at, r.id) {
            *r = e;
        }
    }
    let clicks: Vec<&NewEvent> = events
        .iter()
        .filter(|e| e.kind == "link_clicked" && e.member_id.is_some() && e.campaign_id.is_some())
        .collect();
    if paid.is_empty() && refunds.is_empty() && clicks.is_empty() {
        return Ok(());
    }
    let mut changed: Vec<DateTime<Utc>> = paid.iter().map(|e| e.occurred_at).collect();
    if !paid.is_empty() {
        sqlx::query(
            "INSERT INTO metric_orders (workspace_id, order_id, member_id, group_id, campaign_id, currency,
                 paid_event_id, paid_at, amount)
             SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::uuid[],
                                      $8::timestamptz[], $9::int8[])
             ON CONFLICT (workspace_id, order_id) DO UPDATE SET
                 member_id = EXCLUDED.member_id, group_id = EXCLUDED.group_id, campaign_id = EXCLUDED.campaign_id,
                 currency = EXCLUDED.currency, paid_event_id = EXCLUDED.paid_event_id, paid_at = EXCLUDED.paid_at,
                 amount = EXCLUDED.amount",
        )
        .bind(w.id)
        .bind(paid.iter().map(|e| e.order_id.clone()).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.member_id).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.group_id).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.campaign_id).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.currency.clone()).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(paid.iter().map(|e| e.amount.unwrap_or(0)).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    if !refunds.is_empty() {
        let r: Vec<&NewEvent> = refunds.into_values().collect();
        let refunded_paid: Vec<Option<DateTime<Utc>>> = sqlx::query_scalar(
            "INSERT INTO metric_orders AS o (workspace_id, order_id, refund_event_id, refunded_at, refund_amount)
             SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::timestamptz[], $5::int8[])
             ON CONFLICT (workspace_id, order_id) DO UPDATE SET
                 refund_event_id = EXCLUDED.refund_event_id, refunded_at = EXCLUDED.refunded_at,
                 refund_amount = EXCLUDED.refund_amount
             WHERE o.refunded_at IS NULL
                OR (EXCLUDED.refunded_at, EXCLUDED.refund_event_id) < (o.refunded_at, o.refund_event_id)
             RETURNING o.paid_at",
        )
        .bind(w.id)
        .bind(r.iter().map(|e| e.order_id.clone()).collect::<Vec<_>>())
        .bind(r.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(r.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(r.iter().map(|e| e.amount).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
        changed.extend(refunded_paid.into_iter().flatten());
    }
    if !clicks.is_empty() {
        sqlx::query(
            "INSERT INTO metric_campaign_clicks (workspace_id, member_id, clicked_at, event_id, campaign_id)
             SELECT $1, * FROM unnest($2::uuid[], $3::timestamptz[], $4::uuid[], $5::uuid[])
             ON CONFLICT DO NOTHING",
        )
        .bind(w.id)
        .bind(clicks.iter().map(|e| e.member_id).collect::<Vec<_>>())
        .bind(clicks.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(clicks.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(clicks.iter().map(|e| e.campaign_id).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    // Attributed again: the orders just paid, and every order its member paid
    // within the window after one of the new clicks.
    let window = chrono::Duration::days(DEFAULT_ATTRIBUTION_DAYS).num_seconds() as f64;
    let reattributed: Vec<DateTime<Utc>> = sqlx::query_scalar(include_str!("sql/orders_attributed_new.sql"))
        .bind(w.id)
        .bind(paid.iter().map(|e| e.order_id.clone()).collect::<Vec<_>>())
        .bind(clicks.iter().map(|e| e.member_id).collect::<Vec<_>>())
        .bind(clicks.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(window)
        .fetch_all(&mut *conn)
        .await
        .context("order attribution")?;
    changed.extend(reattributed);
    order_days::pack(conn, w, &order_days::days_of(w, &changed)).await.context("order days")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_events_read_back_as_they_were_packed() {
        let at = |s: i64| DateTime::from_timestamp_micros(s).unwrap();
        let events = vec![
            NewEvent {
                id: Uuid::from_u128(1),
                kind: "order_paid".into(),
                occurred_at: at(1_700_000_000_123_456),
                group_id: Some(Uuid::from_u128(2)),
                member_id: Some(Uuid::from_u128(3)),
                campaign_id: Some(Uuid::from_u128(4)),
                campaign_code: Some("春节-1".into()),
                order_id: Some("o-9".into()),
                amount: Some(-5),
                currency: Some("CNY".into()),
            },
            NewEvent {
                id: Uuid::from_u128(5),
                kind: "custom.投票".into(),
                occurred_at: at(-1),
                group_id: None,
                member_id: None,
                campaign_id: None,
                campaign_code: None,
                order_id: None,
                amount: None,
                currency: None,
            },
        ];
        let data = pack(&events);
        assert_eq!(unpack(&data), Some(events.clone()));
        // Each field on its own: none is read as another.
        for n in 0..7 {
            let mut e = events[1].clone();
            match n {
                0 => e.group_id = Some(Uuid::from_u128(9)),
                1 => e.member_id = Some(Uuid::from_u128(9)),
                2 => e.campaign_id = Some(Uuid::from_u128(9)),
                3 => e.campaign_code = Some("c".into()),
                4 => e.order_id = Some("o".into()),
                5 => e.amount = Some(9),
                _ => e.currency = Some("USD".into()),
            }
            assert_eq!(unpack(&pack(std::slice::from_ref(&e))), Some(vec![e]));
        }
        // A cut value is refused, not read past.
        for cut in 1..data.len() {
            let whole_first = pack(&events[..1]).len();
            assert_eq!(unpack(&data[..cut]).is_some(), cut == whole_first, "cut at {cut}");
        }
        assert_eq!(unpack(&[]), Some(Vec::new()));
    }
}
