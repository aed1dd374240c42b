//! Passwords: Argon2id hashes (PHC strings with their own salt and
//! parameters) and the password policy. Hashing is deliberately slow, so it
//! runs on the blocking pool, never on the request's thread.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The policy's verdict on a new password (the reason when refused).
pub fn check_policy(password: &str, email: &str, min_length: usize) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < min_length {
        return Err(format!("must be at least {min_length} characters"));
    }
    if chars > 256 {
        return Err("must be at most 256 characters".into());
    }
    let lower = password.to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if !email.is_empty() && (lower == email || (local.chars().count() >= 4 && lower.contains(local))) {
        return Err("must not be or contain the e-mail address".into());
    }
    if password.chars().all(|c| c == password.chars().next().unwrap_or(c)) {
        return Err("must not repeat one character".into());
    }
    Ok(())
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hash: {e}"))?;
    Ok(hash.to_string())
}

fn verify_now(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The Argon2id hash of `password` (on the blocking pool).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches `hash` (on the blocking pool). Without a hash
/// (no such account, or no password set yet) a dummy hash is checked, so
/// the answer takes as long either way and tells nothing about the account.
pub async fn verify(hash: Option<String>, password: String) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY.to_owned());
    let ok = tokio::task::spawn_blocking(move || verify_now(&hash, &password)).await.unwrap_or(false);
    ok && known
}

/// A hash of a random password nobody knows, with the default parameters.
const DUMMY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2hlcXVuLWR1bW15LXNhbHQ$2k1pdQ2pYx3Yv7ZkOq8n9m0Qq9Wb1jC8cV3tqW9aH2Y";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(Some(h.clone()), "correct horse battery".into()).await);
        assert!(!verify(Some(h), "correct horse battery!".into()).await);
        assert!(!verify(None, "anything".into()).await);
    }

    #[test]
    fn the_dummy_hash_parses_with_the_default_parameters() {
        let h = PasswordHash::new(DUMMY).unwrap();
        assert_eq!(h.algorithm.as_str(), "argon2id");
        assert!(!verify_now(DUMMY, ""));
    }

    #[test]
    fn the_policy_wants_length_and_not_the_email() {
        assert!(check_policy("short", "ann@example.com", 10).is_err());
        assert!(check_policy("ann@example.com", "ann@example.com", 10).is_err());
        assert!(check_policy("my-ann-password", "ann@example.com", 10).is_ok(), "a short local part only counts whole");
        assert!(check_policy("annabelle-2026!", "annabelle@example.com", 10).is_err());
        assert!(check_policy("aaaaaaaaaaaa", "b@example.com", 10).is_err());
        assert!(check_policy("长城长城长城长城长城", "b@example.com", 10).is_ok());
    }
}
