//! Crediting and debiting points: what other features call (check-ins, the
//! mall, rules, refunds), each inside the caller's transaction.
//!
//! - A credit locks the member's account, writes an `earn` (or `adjust`)
//!   entry unless its source was credited before, pays off a clawback debt
//!   first, and puts the rest in a lot expiring by the workspace policy.
//! - A debit is the guarded update of [`repo::debit_guarded`]; the lots due
//!   by then expire first (written as `expire` entries, so the ledger stays
//!   the balance's history), then the lots are taken earliest expiry first.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{expires_at, EntryKind, LedgerEntry, Source, SourceType};
use super::repo::{self, DueLot, NewEntry};
use crate::ids::{MemberId, WorkspaceId};
use crate::workspaces::model::{ClawbackPolicy, PointsExpiry};

/// A workspace's points settings, read once per transaction.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub tz: Tz,
    pub expiry: PointsExpiry,
    pub clawback: ClawbackPolicy,
}

/// The workspace's policy (None when the workspace is gone).
pub async fn policy(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Option<Policy>, sqlx::Error> {
    Ok(crate::workspaces::repo::points_policy(conn, ws).await?.map(|(tz, p)| Policy {
        tz: crate::clock::zone(&tz),
        expiry: p.expiry,
        clawback: p.clawback,
    }))
}

/// A credit to make.
#[derive(Debug, Clone)]
pub struct Credit<'a> {
    pub member: MemberId,
    /// More than zero.
    pub points: i64,
    /// `earn`, or `adjust` for an operator's correction.
    pub kind: EntryKind,
    pub source: Source,
    pub note: &'a str,
    pub at: DateTime<Utc>,
}

/// Credits points; None when this source was credited before (nothing changes).
pub async fn credit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    c: Credit<'_>,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let before = repo::lock_account(conn, ws, c.member).await?;
    let debt_paid = (-before).clamp(0, c.points);
    let lot = c.points - debt_paid;
    let expires = if lot > 0 { expires_at(policy.expiry, policy.tz, c.at) } else { None };
    let e = NewEntry {
        id: Uuid::now_v7(),
        member: c.member,
        delta: c.points,
        balance_after: before + c.points,
        kind: c.kind,
        source: &c.source,
        note: c.note,
        at: c.at,
        expires_at: expires,
    };
    if !repo::insert_credit(conn, ws, &e, lot).await? {
        return Ok(None);
    }
    Ok(Some(to_entry(&e)))
}

/// Credits points for a source the caller just created (a check-in, a
/// claimed bonus), in one statement: no earlier credit can share it (a
/// repeated one would be refused by the ledger's key, as an error).
pub async fn credit_new(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    c: Credit<'_>,
) -> Result<LedgerEntry, sqlx::Error> {
    let mut e = new_credit_entry(policy, &c);
    e.balance_after = repo::insert_new_credit(conn, ws, &e).await?;
    if e.balance_after <= 0 {
        // Everything went to a debt: no lot, no expiry.
        e.expires_at = None;
    }
    Ok(to_entry(&e))
}

/// [`credit_new`] for many credits in one statement (a batch of
/// check-ins); a member may have several, written in the given order.
pub async fn credit_new_many(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    credits: &[Credit<'_>],
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let mut es: Vec<NewEntry<'_>> = credits.iter().map(|c| new_credit_entry(policy, c)).collect();
    let balances = repo::insert_new_credits(conn, ws, &es).await?;
    for (e, b) in es.iter_mut().zip(balances) {
        e.balance_after = b;
        if e.delta.min(b.max(0)) <= 0 {
            e.expires_at = None;
        }
    }
    Ok(es.iter().map(to_entry).collect())
}

/// The entry of a credit of a new source, its balance still to be written.
fn new_credit_entry<'a>(policy: &Policy, c: &'a Credit<'a>) -> NewEntry<'a> {
    NewEntry {
        id: Uuid::now_v7(),
        member: c.member,
        delta: c.points,
        balance_after: 0,
        kind: c.kind,
        source: &c.source,
        note: c.note,
        at: c.at,
        expires_at: expires_at(policy.expiry, policy.tz, c.at),
    }
}

fn to_entry(e: &NewEntry<'_>) -> LedgerEntry {
    LedgerEntry {
        id: e.id,
        member_id: e.member,
        delta: e.delta,
        balance_after: e.balance_after,
        kind: e.kind,
        source: e.source.clone(),
        note: e.note.to_owned(),
        occurred_at: e.at,
        expires_at: e.expires_at,
    }
}

/// A debit refused: the balance (after due expiries) does not cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    pub balance: i64,
}

/// What a debit wrote: its entry, and the expiries it wrote first.
#[derive(Debug, Clone)]
pub struct Debited {
    pub entry: LedgerEntry,
    pub expired: Vec<LedgerEntry>,
}

/// A debit to make.
#[derive(Debug, Clone)]
pub struct Debit<'a> {
    pub member: MemberId,
    /// More than zero.
    pub points: i64,
    /// `spend`, or `adjust` for an operator's correction.
    pub kind: EntryKind,
    pub source: Source,
    pub note: &'a str,
    pub at: DateTime<Utc>,
}

/// Debits points at `d.at`, or refuses (changing nothing).
pub async fn debit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    d: Debit<'_>,
) -> Result<Result<Debited, Insufficient>, sqlx::Error> {
    let Debit { member, points, kind, source, note, at: now } = d;
    let Some((before, due)) = repo::debit_guarded(conn, ws, member, points, now).await? else {
        let balance = repo::balance(conn, ws, member).await?;
        return Ok(Err(Insufficient { balance }));
    };
    let mut expired = Vec::new();
    if due > 0 {
        let lots = repo::due_lots(conn, ws, &[member], now).await?;
        expired = write_expiries(conn, ws, &[(member, before)], &lots).await?;
        repo::set_balance(conn, ws, member, before - due - points).await?;
    }
    let e = NewEntry {
        id: Uuid::now_v7(),
        member,
        delta: -points,
        balance_after: before - due - points,
        kind,
        source: &source,
        note,
        at: now,
        expires_at: None,
    };
    repo::insert_debit(conn, ws, &e, None).await?;
    Ok(Ok(Debited { entry: to_entry(&e), expired }))
}

/// Writes `expire` entries for `lots` (all due, of the locked members whose
/// balances are `balances`); returns them in order.
pub async fn write_expiries(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    balances: &[(MemberId, i64)],
    lots: &[DueLot],
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let mut running: std::collections::HashMap<MemberId, i64> = balances.iter().copied().collect();
    let mut entries = Vec::with_capacity(lots.len());
    let lots: Vec<DueLot> = lots.iter().filter(|l| running.contains_key(&l.member_id)).cloned().collect();
    for l in &lots {
        let b = running.entry(l.member_id).or_default();
        *b -= l.remaining;
        entries.push(LedgerEntry {
            id: Uuid::now_v7(),
            member_id: l.member_id,
            delta: -l.remaining,
            balance_after: *b,
            kind: EntryKind::Expire,
            source: Source::new(SourceType::Expiry, l.id),
            note: String::new(),
            occurred_at: l.expires_at,
            expires_at: None,
        });
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
    let after: Vec<i64> = entries.iter().map(|e| e.balance_after).collect();
    repo::write_expiries(conn, ws, &lots, &ids, &after).await?;
    Ok(entries)
}

/// What a refund took back.
#[derive(Debug, Clone)]
pub struct ClawedBack {
    pub entry: LedgerEntry,
    pub expired: Vec<LedgerEntry>,
}

/// Takes back the points a refunded order earned: in proportion to
/// `refunded` of the order's amount (all that is left when absent or not
/// less than the amount), at most what was not taken back before. The
/// order's own lot goes first, then the earliest-expiring others. What the
/// lots do not cover is a debt (`allow_negative`: the balance goes below
/// zero, later earnings pay it first) or written off (`floor_zero`: noted
/// in the entry). None when the order earned nothing or this refund was
/// taken back before.
pub async fn claw_back(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    order: &str,
    refunded: Option<i64>,
    refund: Source,
    now: DateTime<Utc>,
) -> Result<Option<ClawedBack>, sqlx::Error> {
    use super::rules::repo as rules;
    let Some((member, amount, points, clawed, lot)) = rules::order_grant_for_update(conn, ws, order).await? else {
        return Ok(None);
    };
    let left = points - clawed;
    let want = match refunded {
        Some(r) if r < amount && amount > 0 => ((points as i128 * r.max(0) as i128 / amount as i128) as i64).min(left),
        _ => left,
    };
    if want <= 0 || repo::entry_by_source(conn, ws, EntryKind::Clawback, &refund).await?.is_some() {
        return Ok(None);
    }
    let before = repo::lock_account(conn, ws, member).await?;
    let lots = repo::due_lots(conn, ws, &[member], now).await?;
    let expired = if lots.is_empty() { vec![] } else { write_expiries(conn, ws, &[(member, before)], &lots).await? };
    let balance = expired.last().map_or(before, |e| e.balance_after);
    let take = match policy.clawback {
        ClawbackPolicy::AllowNegative => want,
        ClawbackPolicy::FloorZero => want.min(balance.max(0)),
    };
    let note = if take < want {
        format!("refund of order {order}: {} of {want} points written off (floor_zero)", want - take)
    } else {
        format!("refund of order {order}")
    };
    let e = NewEntry {
        id: Uuid::now_v7(),
        member,
        delta: -take,
        balance_after: balance - take,
        kind: EntryKind::Clawback,
        source: &refund,
        note: &note,
        at: now,
        expires_at: None,
    };
    repo::set_balance(conn, ws, member, balance - take).await?;
    repo::insert_debit(conn, ws, &e, Some(lot)).await?;
    rules::add_clawed_back(conn, ws, order, want).await?;
    Ok(Some(ClawedBack { entry: to_entry(&e), expired }))
}

/// Gives back what debit `entry` took (`back.points`), as one `adjust`
/// entry with `back.source`: first any clawback debt is paid, then each lot it took
/// from gets its points back where it has not expired by `now`; what came
/// from lots that expired meanwhile becomes a fresh lot with the policy's
/// expiry. None when this source was given back before.
pub async fn give_back(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    entry: Uuid,
    back: Credit<'_>,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let Credit { member, points, source, note, at: now, .. } = back;
    let before = repo::lock_account(conn, ws, member).await?;
    if repo::entry_by_source(conn, ws, EntryKind::Adjust, &source).await?.is_some() {
        return Ok(None);
    }
    let mut left = points - (-before).clamp(0, points);
    let mut refills = Vec::new();
    for (lot, took, expires) in repo::lot_uses(conn, ws, entry).await? {
        if left == 0 {
            break;
        }
        if expires.is_none_or(|e| e > now) {
            let n = took.min(left);
            refills.push((lot, n));
            left -= n;
        }
    }
    let fresh = left;
    let e = NewEntry {
        id: Uuid::now_v7(),
        member,
        delta: points,
        balance_after: before + points,
        kind: EntryKind::Adjust,
        source: &source,
        note,
        at: now,
        expires_at: if fresh > 0 { expires_at(policy.expiry, policy.tz, now) } else { None },
    };
    if !repo::insert_credit(conn, ws, &e, fresh).await? {
        return Ok(None);
    }
    repo::refill_lots(conn, ws, &refills).await?;
    Ok(Some(to_entry(&e)))
}
