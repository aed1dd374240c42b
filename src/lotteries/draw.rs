//! The draw rule (docs/lottery.md), pure and deterministic:
//!
//! 1. The canonical entry list: every member with entries, by member id
//!    (lowercase hyphenated UUID, ascending), each with entries numbered
//!    1..n, one line `"<member_id>:<entry_no>\n"` per entry.
//!    `entries_digest = hex(sha256(the list's bytes))`.
//! 2. Each entry's rank key is `HMAC-SHA256(key = seed, message =
//!    "<member_id>:<entry_no>")`; entries are ranked by key ascending
//!    (bytewise; a tie, never seen in practice, keeps list order).
//! 3. Walk the ranking, filling the prizes in the order listed (all of
//!    prize 1's quantity, then prize 2's, …); with `one_prize_per_member`
//!    an entry of a member who already won is skipped. Prizes left when the
//!    ranking ends stay unawarded.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One winning entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Win {
    pub member: Uuid,
    pub entry_no: u32,
    pub prize: usize,
}

/// `hex(sha256(seed))`: the commitment published before any entry.
pub fn commitment(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// The line of one entry (without its newline).
pub fn line(member: &Uuid, no: u32) -> String {
    format!("{}:{no}", member.hyphenated())
}

/// The digest of the canonical list of `counts` (sorted by member).
pub fn digest(counts: &[(Uuid, u32)]) -> String {
    let mut h = Sha256::new();
    for (m, n) in counts {
        for no in 1..=*n {
            h.update(line(m, no).as_bytes());
            h.update(b"\n");
        }
    }
    hex::encode(h.finalize())
}

/// The winners of `counts` (sorted by member id) for prizes of these
/// quantities, by the seed.
pub fn winners(seed: &[u8], counts: &[(Uuid, u32)], quantities: &[u32], one_prize_per_member: bool) -> Vec<Win> {
    let Ok(keyed) = Hmac::<Sha256>::new_from_slice(seed) else { return vec![] };
    let total: usize = counts.iter().map(|c| c.1 as usize).sum();
    let mut ranked: Vec<([u8; 32], u32, u32)> = Vec::with_capacity(total);
    let mut buf = String::with_capacity(48);
    for (i, (m, n)) in counts.iter().enumerate() {
        for no in 1..=*n {
            use std::fmt::Write;
            buf.clear();
            let _ = write!(buf, "{}:{no}", m.hyphenated());
            let mut mac = keyed.clone();
            mac.update(buf.as_bytes());
            ranked.push((mac.finalize().into_bytes().into(), i as u32, no));
        }
    }
    ranked.sort_unstable();
    let mut slots = quantities.iter().enumerate().flat_map(|(p, q)| std::iter::repeat_n(p, *q as usize));
    let mut won = std::collections::HashSet::new();
    let mut out = Vec::new();
    let Some(mut prize) = slots.next() else { return out };
    for (_, i, no) in ranked {
        let member = counts[i as usize].0;
        if one_prize_per_member && !won.insert(member) {
            continue;
        }
        out.push(Win { member, entry_no: no, prize });
        match slots.next() {
            Some(p) => prize = p,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: u128, each: u32) -> Vec<(Uuid, u32)> {
        (1..=n).map(|i| (Uuid::from_u128(i), each)).collect()
    }

    #[test]
    fn the_same_seed_and_list_give_the_same_winners_and_another_seed_others() {
        let c = counts(50, 3);
        let a = winners(&[7; 32], &c, &[1, 2, 5], true);
        assert_eq!(a, winners(&[7; 32], &c, &[1, 2, 5], true));
        assert_ne!(a, winners(&[8; 32], &c, &[1, 2, 5], true));
        assert_eq!(a.len(), 8);
        assert_eq!(a.iter().map(|w| w.prize).collect::<Vec<_>>(), [0, 1, 1, 2, 2, 2, 2, 2]);
        let members: std::collections::HashSet<_> = a.iter().map(|w| w.member).collect();
        assert_eq!(members.len(), 8, "one prize per member");
    }

    #[test]
    fn fewer_entries_than_prizes_leave_prizes_unawarded_and_repeat_winners_are_allowed_when_asked() {
        let c = counts(2, 2);
        assert_eq!(winners(&[1; 32], &c, &[3, 3], true).len(), 2);
        let many = winners(&[1; 32], &c, &[3, 3], false);
        assert_eq!(many.len(), 4, "every entry wins once");
        assert!(winners(&[1; 32], &c, &[], true).is_empty());
    }

    #[test]
    fn the_rank_is_the_hmac_of_the_line_and_the_digest_covers_the_list() {
        let c = vec![(Uuid::from_u128(2), 1), (Uuid::from_u128(1), 0)];
        let seed = [3u8; 32];
        let w = winners(&seed, &c, &[1], true);
        assert_eq!(w, vec![Win { member: Uuid::from_u128(2), entry_no: 1, prize: 0 }]);
        let expect = hex::encode(Sha256::digest(format!("{}\n", line(&Uuid::from_u128(2), 1)).as_bytes()));
        assert_eq!(digest(&c), expect);
        assert_eq!(commitment(&seed), hex::encode(Sha256::digest(seed)));
    }
}
