//! Small validation helpers: collect every field problem of a request, then
//! answer one 422 naming all of them.

use crate::error::{ApiError, ApiResult, FieldError};

pub mod de;
pub mod schema;

/// The longest URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Collects field errors.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Starts an empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a problem.
    pub fn fail(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// A text of `min..=max` characters (after trimming) without control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.trim().chars().count();
        if n < min {
            self.fail(
                field,
                "required",
                if min <= 1 { "must not be empty".to_owned() } else { format!("must have at least {min} characters") },
            );
        } else if value.chars().count() > max {
            self.fail(field, "too_long", format!("must have at most {max} characters"));
        } else if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            self.fail(field, "invalid", "must not contain control characters");
        }
    }

    /// Optional text: checked only when present.
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.text(field, v, 1, max);
        }
    }

    /// A machine key: 1..=64 of `a-z 0-9 _ -`, starting with a letter or digit.
    pub fn slug(&mut self, field: &str, value: &str) {
        if !is_slug(value) {
            self.fail(
                field,
                "invalid",
                "must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
            );
        }
    }

    /// An IANA timezone name.
    pub fn timezone(&mut self, field: &str, value: &str) {
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.fail(field, "invalid_timezone", format!("`{value}` is not an IANA timezone such as Asia/Shanghai"));
        }
    }

    /// A JSON object of at most `max_bytes` serialised.
    pub fn json_object(&mut self, field: &str, value: &serde_json::Value, max_bytes: usize) {
        if !value.is_object() {
            self.fail(field, "invalid", "must be a JSON object");
        } else if value.to_string().len() > max_bytes {
            self.fail(field, "too_large", format!("must be at most {max_bytes} bytes as JSON"));
        }
    }

    /// An http(s) URL: the scheme, then at least one character, no white
    /// space or control character, at most [`MAX_URL_CHARS`] characters.
    pub fn url(&mut self, field: &str, value: &str) {
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| !r.is_empty())
            && value.chars().count() <= MAX_URL_CHARS
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            self.fail(field, "invalid_url", "must be an http(s) URL of at most 2048 characters");
        }
    }

    /// An e-mail address (`schema::email`): at most 254 characters, no
    /// white space or control character, a non-empty local part, a domain
    /// holding a dot that neither starts nor ends it.
    pub fn email(&mut self, field: &str, value: &str) {
        let ok = value.chars().count() <= 254
            && value
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
            && !value.chars().any(|ch| ch.is_whitespace() || ch.is_control());
        if !ok {
            self.fail(field, "invalid", "must be an email address");
        }
    }

    /// Whether nothing failed so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing failed, else one 422 with every problem.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    /// `Ok` when nothing failed, else one 409 `code` whose message lists
    /// every problem: for rules that depend on what is stored, not on the
    /// request alone.
    pub fn finish_as_conflict(self, code: &'static str) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::conflict(code, self.0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")))
        }
    }
}

/// A JSON number that is a whole number in `i64`, whether written `5` or
/// `5.0` (JSON Schema counts both as integers).
pub fn integral(v: &serde_json::Value) -> Option<i64> {
    let n = v.as_number()?;
    n.as_i64().or_else(|| n.as_f64().and_then(de::whole))
}

/// See [`Checks::slug`].
pub fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && value.as_bytes()[0].is_ascii_alphanumeric()
}

/// The path of the first string or key holding U+0000 (PostgreSQL text and
/// jsonb cannot store it), e.g. `attributes.city` or `tags[2]`.
pub fn find_nul(v: &serde_json::Value, path: &str) -> Option<String> {
    let join = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
    match v {
        serde_json::Value::String(s) => s.contains('\0').then(|| path.to_owned()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, x)| find_nul(x, &format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => {
            map.iter().find_map(|(k, x)| if k.contains('\0') { Some(join(k)) } else { find_nul(x, &join(k)) })
        }
        _ => None,
    }
}

/// A small deterministic generator for tests that compare a published
/// pattern with its parser over many drawn inputs: `next(n)` is in `0..n`.
#[cfg(test)]
pub fn draws(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_collect_every_problem() {
        let mut c = Checks::new();
        c.text("name", "  ", 1, 10);
        c.text("title", "abcdefghijk", 1, 10);
        c.timezone("timezone", "Mars/Olympus");
        c.slug("key", "VIP!");
        c.url("link", "ftp://x");
        let ApiError::Validation(errs) = c.finish().unwrap_err() else { panic!() };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "title", "timezone", "key", "link"]);
    }

    #[test]
    fn good_values_pass() {
        let mut c = Checks::new();
        c.text("name", "上海宝妈VIP群", 1, 10);
        c.timezone("tz", "America/New_York");
        c.slug("key", "vip_2");
        c.url("link", "https://example.com/a?b=c");
        assert!(c.finish().is_ok());
    }

    #[test]
    fn nul_characters_are_found_with_their_path() {
        let v = serde_json::json!({"a": {"b": ["ok", "x\u{0}"]}, "c": 1});
        assert_eq!(find_nul(&v, ""), Some("a.b[1]".to_owned()));
        assert_eq!(find_nul(&serde_json::json!({"k\u{0}": 1}), "attributes"), Some("attributes.k\u{0}".to_owned()));
        assert_eq!(find_nul(&serde_json::json!({"a": "\\u0000 is text"}), ""), None);
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }
}
