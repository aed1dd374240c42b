//! All SQL of points: accounts, the ledger, lots and lot uses.
//!
//! Every statement that changes a member's points runs under the lock of
//! the member's account row, taken first (by [`lock_account`] or the
//! guarded debit): the order of locks is always account, then lots.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{EntryKind, Expiring, LedgerEntry, Source, SourceType};
use crate::ids::{MemberId, WorkspaceId};

#[derive(FromRow)]
struct EntryRow {
    id: Uuid,
    member_id: MemberId,
    delta: i64,
    balance_after: i64,
    kind: EntryKind,
    source_type: SourceType,
    source_id: String,
    note: String,
    occurred_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<EntryRow> for LedgerEntry {
    fn from(r: EntryRow) -> Self {
        LedgerEntry {
            id: r.id,
            member_id: r.member_id,
            delta: r.delta,
            balance_after: r.balance_after,
            kind: r.kind,
            source: Source { kind: r.source_type, id: r.source_id },
            note: r.note,
            occurred_at: r.occurred_at,
            expires_at: r.expires_at,
        }
    }
}

const ENTRY: &str = "id, member_id, delta, balance_after, kind, source_type, source_id, note, occurred_at, expires_at";

/// Creates the member's account if needed and locks it; returns the balance.
/// Closes the race of two credits computing the same `balance_after`.
pub async fn lock_account(conn: &mut PgConnection, ws: WorkspaceId, member: MemberId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO points_accounts (workspace_id, member_id) VALUES ($1, $2)
         ON CONFLICT (workspace_id, member_id) DO UPDATE SET balance = points_accounts.balance
         RETURNING balance",
    )
    .bind(ws)
    .bind(member)
    .fetch_one(conn)
    .await
}

/// The balance (0 without an account).
pub async fn balance(conn: &mut PgConnection, ws: WorkspaceId, member: MemberId) -> Result<i64, sqlx::Error> {
    let b: Option<i64> =
        sqlx::query_scalar("SELECT balance FROM points_accounts WHERE workspace_id = $1 AND member_id = $2")
            .bind(ws)
            .bind(member)
            .fetch_optional(conn)
            .await?;
    Ok(b.unwrap_or(0))
}

/// A ledger entry to write.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub id: Uuid,
    pub member: MemberId,
    pub delta: i64,
    pub balance_after: i64,
    pub kind: EntryKind,
    pub source: &'a Source,
    pub note: &'a str,
    pub at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Writes a credit under the account lock: the entry (unless its source was
/// credited before: then nothing, and `false`), the new balance, and a lot
/// of `lot` points (what is left after paying off a debt).
pub async fn insert_credit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    e: &NewEntry<'_>,
    lot: i64,
) -> Result<bool, sqlx::Error> {
    // The lot's foreign key to its entry is checked at the end of the
    // statement, after the entry of the CTE is in.
    let done: Option<Uuid> = sqlx::query_scalar(
        "WITH e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT ON CONSTRAINT points_ledger_source_key DO NOTHING
                    RETURNING id),
              a AS (UPDATE points_accounts SET balance = $5, updated_at = $10
                    WHERE workspace_id = $1 AND member_id = $3 AND EXISTS (SELECT 1 FROM e)),
              l AS (INSERT INTO points_lots (workspace_id, id, member_id, points, remaining, expires_at)
                    SELECT $1, e.id, $3, $12, $12, $11 FROM e WHERE $12 > 0)
         SELECT id FROM e",
    )
    .bind(ws)
    .bind(e.id)
    .bind(e.member)
    .bind(e.delta)
    .bind(e.balance_after)
    .bind(e.kind)
    .bind(e.source.kind)
    .bind(&e.source.id)
    .bind(e.note)
    .bind(e.at)
    .bind(e.expires_at)
    .bind(lot)
    .fetch_optional(conn)
    .await?;
    Ok(done.is_some())
}

/// A credit whose source is new (just created by the caller), in one
/// statement: the account row is created or locked by the upsert that
/// adds the points, the entry's `balance_after` is what that upsert
/// returned, and the lot holds what is left after paying off a debt
/// (`min(points, max(0, balance after))`). Returns the balance after.
pub async fn insert_new_credit(conn: &mut PgConnection, ws: WorkspaceId, e: &NewEntry<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "WITH a AS (INSERT INTO points_accounts (workspace_id, member_id, balance, updated_at) VALUES ($1, $3, $4, $9)
                    ON CONFLICT (workspace_id, member_id)
                    DO UPDATE SET balance = points_accounts.balance + $4, updated_at = $9
                    RETURNING balance),
              e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at, expires_at)
                    SELECT $1, $2, $3, $4, a.balance, $5, $6, $7, $8, $9,
                           CASE WHEN LEAST($4, GREATEST(0, a.balance)) > 0 THEN $10::timestamptz END
                    FROM a RETURNING balance_after, expires_at),
              l AS (INSERT INTO points_lots (workspace_id, id, member_id, points, remaining, expires_at)
                    SELECT $1, $2, $3, $4, LEAST($4, GREATEST(0, e.balance_after)), e.expires_at FROM e
                    WHERE LEAST($4, GREATEST(0, e.balance_after)) > 0)
         SELECT balance_after FROM e",
    )
    .bind(ws)
    .bind(e.id)
    .bind(e.member)
    .bind(e.delta)
    .bind(e.kind)
    .bind(e.source.kind)
    .bind(&e.source.id)
    .bind(e.note)
    .bind(e.at)
    .bind(e.expires_at)
    .fetch_one(conn)
    .await
}

/// Credits of sources just created, for many members in one statement
/// (the batched form of [`insert_new_credit`]): one upsert adds each
/// member's total to their account (rows locked in member order), and each
/// entry's `balance_after` is that new balance less the deltas of the
/// member's entries after it in `entries`, so a member's entries read as
/// if written one after the other. Returns the balances after, in order.
pub async fn insert_new_credits(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    entries: &[NewEntry<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(vec![]);
    }
    let mut later = vec![0i64; entries.len()];
    let mut after: std::collections::HashMap<MemberId, i64> = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate().rev() {
        let sum = after.entry(e.member).or_default();
        later[i] = *sum;
        *sum += e.delta;
    }
    use crate::webhooks::catalogue::spelled;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "WITH u AS (SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::int8[], $5::int8[], $6::text[], $7::text[],
                        $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[]) WITH ORDINALITY
                        AS u(id, member, delta, later, kind, stype, sid, note, at, exp, n)),
              a AS (INSERT INTO points_accounts (workspace_id, member_id, balance, updated_at)
                    SELECT $1, member, sum(delta), max(at) FROM u GROUP BY member ORDER BY member
                    ON CONFLICT (workspace_id, member_id)
                    DO UPDATE SET balance = points_accounts.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
                    RETURNING member_id, balance),
              e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at, expires_at)
                    SELECT $1, u.id, u.member, u.delta, a.balance - u.later, u.kind, u.stype, u.sid, u.note, u.at,
                           CASE WHEN LEAST(u.delta, GREATEST(0, a.balance - u.later)) > 0 THEN u.exp END
                    FROM u JOIN a ON a.member_id = u.member
                    RETURNING id, member_id, delta, balance_after, expires_at),
              l AS (INSERT INTO points_lots (workspace_id, id, member_id, points, remaining, expires_at)
                    SELECT $1, e.id, e.member_id, e.delta, LEAST(e.delta, GREATEST(0, e.balance_after)), e.expires_at
                    FROM e WHERE LEAST(e.delta, GREATEST(0, e.balance_after)) > 0)
         SELECT u.n, e.balance_after FROM u JOIN e ON e.id = u.id ORDER BY u.n",
    )
    .bind(ws)
    .bind(entries.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.member).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.delta).collect::<Vec<_>>())
    .bind(later)
    .bind(entries.iter().map(|e| spelled(e.kind)).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| spelled(e.source.kind)).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.source.id.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.note).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.at).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.expires_at).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    if rows.len() != entries.len() {
        return Err(sqlx::Error::Protocol(format!("{} credits written of {}", rows.len(), entries.len())));
    }
    Ok(rows.into_iter().map(|(_, b)| b).collect())
}

/// The guarded debit: takes `points` from the balance only when what is
/// left of it, after the lots already due at `now` expire, covers them.
/// Returns the balance before and the points due to expire, or None (and
/// changes nothing) when it does not cover them. This one statement is the
/// guard against spending a balance twice: concurrent debits of one member
/// queue on the row and each re-checks `balance` after the one before.
pub async fn debit_guarded(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    points: i64,
    now: DateTime<Utc>,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (SELECT COALESCE(sum(remaining), 0)::int8 AS due FROM points_lots
                      WHERE workspace_id = $1 AND member_id = $2 AND remaining > 0 AND expires_at <= $4)
         UPDATE points_accounts SET balance = balance - $3, updated_at = $4
         WHERE workspace_id = $1 AND member_id = $2 AND balance - (SELECT due FROM due) >= $3
         RETURNING balance + $3, (SELECT due FROM due)",
    )
    .bind(ws)
    .bind(member)
    .bind(points)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Sets the balance of a locked account.
pub async fn set_balance(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    balance: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE points_accounts SET balance = $3 WHERE workspace_id = $1 AND member_id = $2")
        .bind(ws)
        .bind(member)
        .bind(balance)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes a debit's entry and takes its points from the lots not due at
/// `now` — `first` (a clawback's own order lot) first, then earliest expiry
/// first and never-expiring ones last, up to what they hold — recording
/// which lots gave how much. Under the account lock.
pub async fn insert_debit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    e: &NewEntry<'_>,
    first: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id),
              open AS (SELECT id, remaining,
                              sum(remaining) OVER (ORDER BY id IS NOT DISTINCT FROM $11 DESC, expires_at NULLS LAST, id)
                                - remaining AS before
                       FROM points_lots
                       WHERE workspace_id = $1 AND member_id = $3 AND remaining > 0
                         AND (expires_at IS NULL OR expires_at > $10)),
              take AS (SELECT id, LEAST(remaining, -$4 - before) AS pts FROM open WHERE before < -$4),
              upd AS (UPDATE points_lots p SET remaining = p.remaining - take.pts FROM take
                      WHERE p.workspace_id = $1 AND p.id = take.id RETURNING p.id, take.pts)
         INSERT INTO points_lot_uses (workspace_id, entry_id, lot_id, points)
         SELECT $1, e.id, upd.id, upd.pts FROM e, upd",
    )
    .bind(ws)
    .bind(e.id)
    .bind(e.member)
    .bind(e.delta)
    .bind(e.balance_after)
    .bind(e.kind)
    .bind(e.source.kind)
    .bind(&e.source.id)
    .bind(e.note)
    .bind(e.at)
    .bind(first)
    .execute(conn)
    .await?;
    Ok(())
}

/// The lots a debit took from: `(lot, points, expires_at)`.
pub async fn lot_uses(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    entry: Uuid,
) -> Result<Vec<(Uuid, i64, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.lot_id, u.points, l.expires_at FROM points_lot_uses u
         JOIN points_lots l ON l.workspace_id = u.workspace_id AND l.id = u.lot_id
         WHERE u.workspace_id = $1 AND u.entry_id = $2 ORDER BY l.expires_at NULLS LAST, u.lot_id",
    )
    .bind(ws)
    .bind(entry)
    .fetch_all(conn)
    .await
}

/// Gives points back to lots (under the account lock).
pub async fn refill_lots(conn: &mut PgConnection, ws: WorkspaceId, refills: &[(Uuid, i64)]) -> Result<(), sqlx::Error> {
    if refills.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = refills.iter().map(|r| r.0).collect();
    let pts: Vec<i64> = refills.iter().map(|r| r.1).collect();
    sqlx::query(
        "UPDATE points_lots l SET remaining = l.remaining + u.pts FROM unnest($2::uuid[], $3::int8[]) AS u(id, pts)
         WHERE l.workspace_id = $1 AND l.id = u.id",
    )
    .bind(ws)
    .bind(&ids)
    .bind(&pts)
    .execute(conn)
    .await?;
    Ok(())
}

/// One entry by its source (what a repeated grant answers with).
pub async fn entry_by_source(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    kind: EntryKind,
    source: &Source,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let r: Option<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY} FROM points_ledger WHERE workspace_id = $1 AND kind = $2 AND source_type = $3 AND source_id = $4"
    ))
    .bind(ws)
    .bind(kind)
    .bind(source.kind)
    .bind(&source.id)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(LedgerEntry::from))
}

/// A member's entries, newest first.
pub async fn ledger(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY} FROM points_ledger WHERE workspace_id = $1 AND member_id = $2 AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(ws)
    .bind(member)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LedgerEntry::from).collect())
}

/// The balance (None: the member has no account) and the next `limit`
/// expiries, in one statement (so one snapshot).
pub async fn balance_and_expiring(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    limit: i64,
) -> Result<(Option<i64>, Vec<Expiring>), sqlx::Error> {
    type Read = (Option<i64>, sqlx::types::Json<Vec<(i64, DateTime<Utc>)>>);
    let (balance, expiring): Read = sqlx::query_as(
        "SELECT (SELECT balance FROM points_accounts WHERE workspace_id = $1 AND member_id = $2),
                COALESCE((SELECT json_agg(json_build_array(points, expires_at) ORDER BY expires_at)
                          FROM (SELECT sum(remaining)::int8 AS points, expires_at FROM points_lots
                                WHERE workspace_id = $1 AND member_id = $2 AND remaining > 0 AND expires_at IS NOT NULL
                                GROUP BY expires_at ORDER BY expires_at LIMIT $3) x), '[]'::json)",
    )
    .bind(ws)
    .bind(member)
    .bind(limit)
    .fetch_one(conn)
    .await?;
    Ok((balance, expiring.0.into_iter().map(|(points, expires_at)| Expiring { points, expires_at }).collect()))
}

/// A lot due to expire.
#[derive(Debug, Clone, FromRow)]
pub struct DueLot {
    pub id: Uuid,
    pub member_id: MemberId,
    pub remaining: i64,
    pub expires_at: DateTime<Utc>,
}

/// The accounts, among `members`, holding lots due at `now`, locked in
/// member order (skipping those another expiry run holds); returns each
/// locked member's balance.
pub async fn lock_due_accounts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    members: &[MemberId],
    skip_locked: bool,
) -> Result<Vec<(MemberId, i64)>, sqlx::Error> {
    let skip = if skip_locked { "SKIP LOCKED" } else { "" };
    sqlx::query_as(&format!(
        "SELECT member_id, balance FROM points_accounts WHERE workspace_id = $1 AND member_id = ANY($2)
         ORDER BY member_id FOR UPDATE {skip}"
    ))
    .bind(ws)
    .bind(members)
    .fetch_all(conn)
    .await
}

/// The lots of `members` due at `now` with points left, by member and expiry.
pub async fn due_lots(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    members: &[MemberId],
    now: DateTime<Utc>,
) -> Result<Vec<DueLot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, member_id, remaining, expires_at FROM points_lots
         WHERE workspace_id = $1 AND member_id = ANY($2) AND remaining > 0 AND expires_at <= $3
         ORDER BY member_id, expires_at, id",
    )
    .bind(ws)
    .bind(members)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Writes expiries under the accounts' locks: one `expire` entry per lot
/// (`entries[i]` for `lots[i]`, with its balance after), the lots emptied
/// and the accounts' new balances.
pub async fn write_expiries(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    lots: &[DueLot],
    entry_ids: &[Uuid],
    balances_after: &[i64],
) -> Result<(), sqlx::Error> {
    let lot_ids: Vec<Uuid> = lots.iter().map(|l| l.id).collect();
    let members: Vec<MemberId> = lots.iter().map(|l| l.member_id).collect();
    let deltas: Vec<i64> = lots.iter().map(|l| -l.remaining).collect();
    let ats: Vec<DateTime<Utc>> = lots.iter().map(|l| l.expires_at).collect();
    sqlx::query(
        "WITH x AS (SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::int8[], $6::int8[], $7::timestamptz[])
                    AS x(entry_id, lot_id, member_id, delta, balance_after, at)),
              e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at)
                    SELECT $1, entry_id, member_id, delta, balance_after, 'expire', 'expiry', lot_id::text, '', at FROM x
                    ON CONFLICT ON CONSTRAINT points_ledger_source_key DO NOTHING RETURNING id),
              l AS (UPDATE points_lots p SET remaining = 0 FROM x
                    WHERE p.workspace_id = $1 AND p.id = x.lot_id AND x.entry_id IN (SELECT id FROM e))
         UPDATE points_accounts a SET balance = f.balance_after, updated_at = now()
         FROM (SELECT member_id, min(balance_after) AS balance_after FROM x
               WHERE x.entry_id IN (SELECT id FROM e) GROUP BY member_id) f
         WHERE a.workspace_id = $1 AND a.member_id = f.member_id",
    )
    .bind(ws)
    .bind(entry_ids)
    .bind(&lot_ids)
    .bind(&members)
    .bind(&deltas)
    .bind(balances_after)
    .bind(&ats)
    .execute(conn)
    .await?;
    Ok(())
}

/// The members with the highest balances: `(member, balance)`.
pub async fn richest(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    limit: i64,
) -> Result<Vec<(MemberId, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT member_id, balance FROM points_accounts WHERE workspace_id = $1 ORDER BY balance DESC, member_id LIMIT $2",
    )
    .bind(ws)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Points each member earned (`earn` entries) in `lo..hi`.
pub async fn earned_by_member(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<std::collections::HashMap<MemberId, i64>, sqlx::Error> {
    let rows: Vec<(MemberId, i64)> = sqlx::query_as(
        "SELECT member_id, COALESCE(sum(delta), 0)::int8 FROM points_ledger
         WHERE workspace_id = $1 AND kind = 'earn' AND occurred_at >= $2 AND occurred_at < $3 GROUP BY member_id",
    )
    .bind(ws)
    .bind(lo)
    .bind(hi)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Members (by workspace) holding lots due at `now`, at most `limit`.
pub async fn members_with_due_lots(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(WorkspaceId, MemberId)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT workspace_id, member_id FROM
             (SELECT workspace_id, member_id FROM points_lots
              WHERE remaining > 0 AND expires_at <= $1 ORDER BY expires_at LIMIT $2 * 4) d
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}
