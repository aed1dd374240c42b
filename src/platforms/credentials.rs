//! The credential keys of a platform as data: name, required, length and
//! characters. Each platform's folder lists its keys (`KEYS`); the
//! connections feature checks input against them and publishes them as the
//! schema of a connection's `credentials`, and the platform reads them into
//! its typed `Credentials` (`Credentials::of`).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// The characters a credential may hold.
#[derive(Debug, Clone, Copy)]
pub enum Chars {
    /// `A-Z a-z 0-9`.
    Alnum,
    /// `A-Z a-z 0-9 _ -`.
    Token,
    /// Anything, with at least one `:` (a Telegram bot token, `123:abc`).
    WithColon,
    /// Anything.
    Any,
}

/// One credential key of a platform: its name, whether it is required, its
/// length in characters and its characters. The check and the published
/// schema are both read from these.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub required: bool,
    pub min: usize,
    pub max: usize,
    pub chars: Chars,
}

/// A key (for the platforms' tables).
pub const fn key(name: &'static str, required: bool, min: usize, max: usize, chars: Chars) -> Key {
    Key { name, required, min, max, chars }
}

impl Key {
    /// Whether `s` is a well-formed value of this key.
    pub fn accepts(&self, s: &str) -> bool {
        let n = s.chars().count();
        (self.min..=self.max).contains(&n)
            && match self.chars {
                Chars::Alnum => s.bytes().all(|b| b.is_ascii_alphanumeric()),
                Chars::Token => s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                Chars::WithColon => s.contains(':'),
                Chars::Any => true,
            }
    }

    /// The key's JSON Schema.
    pub fn schema(&self) -> Object {
        let pattern = match self.chars {
            Chars::Alnum => Some("^[A-Za-z0-9]*$"),
            Chars::Token => Some("^[A-Za-z0-9_-]*$"),
            Chars::WithColon => Some(r"^[^\u0000]*:[^\u0000]*$"),
            Chars::Any => None,
        };
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(self.min))
            .max_length(Some(self.max))
            .pattern(pattern)
            .build()
    }
}
