//! Coupon codes: 13 characters of a 31-letter alphabet without the ones
//! people confuse (0/O, 1/I/L), drawn from the operating system's random
//! source: 13 × log2(31) ≈ 64 bits, so a code cannot be guessed. Read back
//! case-insensitively, with spaces and dashes ignored.

/// The alphabet: digits 2-9 and the capitals without I, L, O.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a code.
pub const LEN: usize = 13;

/// A new random code.
pub fn generate() -> anyhow::Result<String> {
    random(LEN)
}

/// `len` random characters of [`ALPHABET`] (channel codes use it too).
pub fn random(len: usize) -> anyhow::Result<String> {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 32];
    while out.len() < len {
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        // Rejection sampling keeps every letter equally likely: 248 = 8 × 31.
        for b in bytes.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(*b % 31) as usize] as char);
        }
    }
    Ok(out)
}

/// A code as typed, in its stored form (None when it cannot be one).
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_thirteen_unambiguous_characters_and_read_back_however_typed() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let c = generate().unwrap();
            assert_eq!(c.len(), LEN);
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
            assert_eq!(normalize(&c).as_deref(), Some(c.as_str()));
            let typed = format!("{}-{} {}", &c[..4], &c[4..8], &c[8..]).to_lowercase();
            assert_eq!(normalize(&typed).as_deref(), Some(c.as_str()));
            assert!(seen.insert(c), "a repeat among 2,000 codes of 64 bits");
        }
        assert!((LEN as f64) * (ALPHABET.len() as f64).log2() >= 60.0);
        assert_eq!(normalize("O000000000000"), None);
        assert_eq!(normalize("ABC"), None);
        // Every letter of the alphabet shows up: the draw is not skewed to a few.
        let letters: std::collections::HashSet<char> = seen.iter().flat_map(|c| c.chars()).collect();
        assert_eq!(letters.len(), ALPHABET.len());
    }
}
