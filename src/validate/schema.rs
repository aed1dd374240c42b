//! The validation rules of [`super::Checks`] as JSON Schema, for the OpenAPI
//! document: a client generated from it sends what the server accepts, and
//! what the server refuses breaks the schema.
//!
//! Each function here mirrors one check beside it and is used from DTOs with
//! `#[schema(schema_with = ...)]`. The patterns spell their character classes
//! out (`\uXXXX` ranges) instead of `\s` or `\p{..}`, whose meaning differs
//! between regex engines:
//! - control characters are Unicode's `Cc` (U+0000-U+001F, U+007F-U+009F),
//!   as Rust's `char::is_control`;
//! - white space is Unicode's `White_Space`, as Rust's `char::is_whitespace`
//!   (what `str::trim` removes).

use utoipa::openapi::schema::{
    AdditionalProperties, Array, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// Control characters other than tab, LF and CR (refused in free text).
const CONTROL_BUT_TAB_NL: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";
/// Every control character.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Unicode `White_Space` outside the control ranges (tab, LF, CR and U+0085 are controls).
const SPACE: &str = r"\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// The `White_Space` characters among the controls.
const CONTROL_SPACE: &str = r"\u0009-\u000D\u0085";

/// Every `White_Space` character, as a class (what `str::trim` removes).
pub fn white_space() -> String {
    format!("[{CONTROL_SPACE}{SPACE}]")
}

/// `ty`, or `ty` and `null`.
pub fn typed(ty: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([ty, Type::Null])
    } else {
        SchemaType::Type(ty)
    }
}

fn string(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(typed(Type::String, nullable))
}

/// The pattern of [`super::Checks::text`]: no control character but tab, LF
/// and CR; with `non_blank`, at least one character that is not white space.
/// `extra` names more refused characters (already escaped for a class).
fn text_pattern(non_blank: bool, extra: &str) -> String {
    let allowed = format!("[^{CONTROL_BUT_TAB_NL}{extra}]");
    if non_blank {
        format!("^{allowed}*[^{CONTROL}{SPACE}{extra}]{allowed}*$")
    } else {
        format!("^{allowed}*$")
    }
}

/// Free text of `min..=max` characters (`min` 0 or 1), for a length only
/// known at run time; `extra` names more refused characters.
pub fn text_of(min: usize, max: usize, nullable: bool, extra: &str) -> Object {
    string(nullable)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(text_pattern(min > 0, extra)))
        .build()
}

/// Free text of `MIN..=MAX` characters ([`super::Checks::text`]; `MIN` is 0 or 1).
pub fn text<const MIN: usize, const MAX: usize>() -> Object {
    text_of(MIN, MAX, false, "")
}

/// [`text`] or `null`.
pub fn opt_text<const MIN: usize, const MAX: usize>() -> Object {
    text_of(MIN, MAX, true, "")
}

/// A tag name: text of 1-50 characters without commas.
pub fn tag_name() -> Object {
    text_of(1, 50, false, ",")
}

/// [`tag_name`] or `null`.
pub fn opt_tag_name() -> Object {
    text_of(1, 50, true, ",")
}

fn tag_list_array(max: usize, nullable: bool) -> Array {
    ArrayBuilder::new().schema_type(typed(Type::Array, nullable)).items(tag_name()).max_items(Some(max)).build()
}

/// A list of at most `MAX` tag names (`tags::model::check_tag_list`).
pub fn tag_list<const MAX: usize>() -> Array {
    tag_list_array(MAX, false)
}

/// [`tag_list`] or `null`.
pub fn opt_tag_list<const MAX: usize>() -> Array {
    tag_list_array(MAX, true)
}

/// A list of at most `MAX_ITEMS` free texts of `MIN..=MAX` characters each ([`text`]).
pub fn texts<const MIN: usize, const MAX: usize, const MAX_ITEMS: usize>() -> Array {
    ArrayBuilder::new().items(text::<MIN, MAX>()).max_items(Some(MAX_ITEMS)).build()
}

/// A list of at most `MAX_ITEMS` machine keys ([`slug`]).
pub fn slugs<const MAX_ITEMS: usize>() -> Array {
    ArrayBuilder::new().items(slug()).max_items(Some(MAX_ITEMS)).build()
}

/// A list of at most `MAX_ITEMS` UUIDs.
pub fn uuids<const MAX_ITEMS: usize>() -> Array {
    let uuid = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)));
    ArrayBuilder::new().items(uuid).max_items(Some(MAX_ITEMS)).build()
}

/// A string matching `pattern` (anchored by the caller), or `null` with
/// `nullable`; several combine in [`all_of`].
pub fn matching(pattern: &str, nullable: bool) -> Object {
    string(nullable).pattern(Some(pattern)).build()
}

/// A list of at most `MAX_ITEMS` distinct items of `item` (`uniqueItems`).
pub fn distinct(item: RefOr<Schema>, max_items: usize, nullable: bool) -> Array {
    ArrayBuilder::new()
        .schema_type(typed(Type::Array, nullable))
        .items(item)
        .max_items(Some(max_items))
        .unique_items(true)
        .build()
}

/// A list of 1 to `max_items` distinct items of `item`, or `null`.
pub fn opt_nonempty_distinct(item: RefOr<Schema>, max_items: usize) -> Array {
    ArrayBuilder::new()
        .schema_type(typed(Type::Array, true))
        .items(item)
        .min_items(Some(1))
        .max_items(Some(max_items))
        .unique_items(true)
        .build()
}

/// An email address (`Checks::email`).
pub fn email() -> Object {
    email_schema(false)
}

fn email_schema(nullable: bool) -> Object {
    let w = format!("{CONTROL}{SPACE}");
    string(nullable).max_length(Some(254)).pattern(Some(format!("^[^@{w}]+@[^.{w}][^{w}]*\\.[^{w}]*[^.{w}]$"))).build()
}

/// An email address or `null` (`members::model::check_email`): at most 254
/// characters, no white space or control character, a non-empty local part,
/// a domain holding a dot that neither starts nor ends it.
pub fn opt_email() -> Object {
    email_schema(true)
}

/// A phone number or `null` (`members::model::check_phone`): at most 32 characters of
/// digits and `+ - ( )` or space, holding 5-20 digits.
pub fn opt_phone() -> Object {
    string(true).max_length(Some(32)).pattern(Some(r"^[-+() ]*([0-9][-+() ]*){5,20}$")).build()
}

/// The pattern of [`super::is_slug`].
const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

fn slug_object(nullable: bool) -> Object {
    string(nullable).min_length(Some(1)).max_length(Some(64)).pattern(Some(SLUG_PATTERN)).build()
}

/// A machine key ([`super::Checks::slug`]).
pub fn slug() -> Object {
    slug_object(false)
}

/// [`slug`] or `null`.
pub fn opt_slug() -> Object {
    slug_object(true)
}

/// A platform's id for a chat or a user (`platform::check_external_id`):
/// 1-128 characters, no control character, no white space at either end.
pub fn external_id() -> Object {
    let pattern = format!("^[^{CONTROL}{SPACE}]([^{CONTROL}]*[^{CONTROL}{SPACE}])?$");
    string(false).min_length(Some(1)).max_length(Some(128)).pattern(Some(pattern)).build()
}

/// The pattern of [`super::Checks::url`], without its anchors.
pub fn url_pattern() -> String {
    format!("https?://[^{CONTROL}{SPACE}]+")
}

fn url_object(nullable: bool) -> Object {
    string(nullable).max_length(Some(super::MAX_URL_CHARS)).pattern(Some(format!("^{}$", url_pattern()))).build()
}

/// An http(s) URL ([`super::Checks::url`]).
pub fn url() -> Object {
    url_object(false)
}

/// [`url`] or `null`.
pub fn opt_url() -> Object {
    url_object(true)
}

/// A string without U+0000, which no stored text can hold: the pattern the
/// document gives every string that has no rule of its own (the request
/// extractors refuse U+0000 in every JSON string, key and query value).
pub const NUL_FREE: &str = r"^[^\u0000]*$";

/// The `JsonValue` component: any JSON value whose strings and keys hold
/// no U+0000, at any depth (the values of free-form objects).
pub fn json_value_component() -> serde_json::Value {
    let me = "#/components/schemas/JsonValue";
    serde_json::json!({
        "description": "Any JSON value; its strings and object keys, at any depth, hold no U+0000",
        "type": ["null", "boolean", "number", "string", "array", "object"],
        "pattern": NUL_FREE,
        "items": {"$ref": me},
        "propertyNames": {"pattern": NUL_FREE},
        "additionalProperties": {"$ref": me}
    })
}

/// A free-form JSON object of at most `KIB` KiB ([`super::Checks::json_object`]), or `null`.
pub fn opt_json_object<const KIB: usize>() -> Object {
    ObjectBuilder::new()
        .schema_type(typed(Type::Object, true))
        .property_names(Some(matching(NUL_FREE, false)))
        .additional_properties(Some(RefOr::Ref(Ref::from_schema_name("JsonValue"))))
        .description(Some(format!(
            "A JSON object of at most {} bytes as JSON; its strings and keys hold no U+0000 and its \
             numbers are finite doubles or 64-bit integers",
            KIB * 1024
        )))
        .build()
}

/// An object holding exactly one of the named properties (a rule like
/// "give exactly one of `layer_id` or `group_ids`"), as a `oneOf` of
/// closed objects each requiring its property; the others may be `null`
/// (the server reads `null` as absent).
pub fn exactly_one<const N: usize>(description: &str, fields: [(&str, RefOr<Schema>); N]) -> RefOr<Schema> {
    let null = || ObjectBuilder::new().schema_type(Type::Null).build();
    let mut one_of = OneOfBuilder::new().description(Some(description));
    for (i, (name, field)) in fields.iter().enumerate() {
        let mut variant = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        for (j, (other, _)) in fields.iter().enumerate() {
            variant = if i == j {
                variant.property(*name, field.clone()).required(*name)
            } else {
                variant.property(*other, null())
            };
        }
        one_of = one_of.item(variant.build());
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// A value every one of `schemas` accepts (several patterns on one string).
pub fn all_of(schemas: impl IntoIterator<Item = Object>) -> RefOr<Schema> {
    let mut all = utoipa::openapi::schema::AllOfBuilder::new();
    for s in schemas {
        all = all.item(s);
    }
    RefOr::T(Schema::AllOf(all.build()))
}

/// A regex alternation (no anchors, no leading zeros) of the decimal
/// integers `lo..=hi`, for numbers inside a text (`90d`, a cron field).
pub fn int_range(lo: u64, hi: u64) -> String {
    fn digits(n: u64) -> Vec<u8> {
        n.to_string().into_bytes()
    }
    // Cut lo..=hi where a run of trailing 9s ends or of trailing 0s
    // starts, so that each piece is one fixed prefix, one digit range and
    // free digits after it (to-regex-range's method).
    let mut stops = vec![hi];
    let mut k = 1u32;
    loop {
        let p = 10u64.saturating_pow(k);
        let nines = lo - lo % p + (p - 1);
        if nines >= hi || nines < lo {
            break;
        }
        stops.push(nines);
        k += 1;
    }
    let mut k = 1u32;
    loop {
        let p = 10u64.saturating_pow(k);
        let stop = match (hi + 1 - (hi + 1) % p).checked_sub(1) {
            Some(s) if s > lo && s < hi => s,
            _ => break,
        };
        stops.push(stop);
        k += 1;
    }
    stops.sort_unstable();
    stops.dedup();
    let mut parts = Vec::new();
    let mut start = lo;
    for stop in stops {
        if stop < start {
            continue;
        }
        let (a, b) = (digits(start), digits(stop));
        let mut part = String::new();
        let mut free = 0;
        for (x, y) in a.iter().zip(&b) {
            if x == y {
                part.push(char::from(*x));
            } else if *x == b'0' && *y == b'9' {
                free += 1;
            } else {
                part.push_str(&format!("[{}-{}]", char::from(*x), char::from(*y)));
            }
        }
        match free {
            0 => {}
            1 => part.push_str("[0-9]"),
            n => part.push_str(&format!("[0-9]{{{n}}}")),
        }
        parts.push(part);
        start = stop + 1;
    }
    parts.join("|")
}

/// The pattern of a local time `HH:MM` (00:00-23:59, `sop::timing::parse_hhmm`).
pub const HHMM: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// The pattern of a local date-time `YYYY-MM-DDTHH:MM` of the years
/// 1970-9999 that exists on the calendar (`clock::parse_local`).
pub fn local_date_time() -> String {
    let year = "(19[7-9][0-9]|[2-9][0-9]{3})";
    let leap = "(19(7[26]|8[048]|9[26])|[2-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[3579][26])00)";
    let date = format!(
        "({year}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|{year}-(0[13-9]|1[0-2])-(29|30)|{year}-(0[13578]|1[02])-31|{leap}-02-29)"
    );
    format!("^{date}T([01][0-9]|2[0-3]):[0-5][0-9]$")
}

/// A reference to the component schema of `T`.
pub fn reference<T: utoipa::ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// An array of `MIN..=MAX` items of `item`.
pub fn array(item: RefOr<Schema>, min: usize, max: usize) -> RefOr<Schema> {
    ArrayBuilder::new().items(item).min_items(Some(min)).max_items(Some(max)).build().into()
}

/// An IANA timezone name ([`super::Checks::timezone`]), published once as the
/// `Timezone` component: an enum of every name the server knows.
#[derive(Debug, Clone, Copy)]
pub struct Timezone;

impl utoipa::PartialSchema for Timezone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        string(false)
            .description(Some("An IANA timezone name, such as `Asia/Shanghai`"))
            .enum_values(Some(names))
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Timezone {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn the_local_date_time_pattern_is_the_parser() {
        let re = regex::Regex::new(&local_date_time()).unwrap();
        let mut day = chrono::NaiveDate::from_ymd_opt(1968, 1, 1).unwrap();
        let mut checked = 0;
        while day.year() < 2410 {
            let ymd = day.format("%Y-%m-%d").to_string();
            for s in [format!("{ymd}T00:00"), format!("{ymd}T23:59"), format!("{ymd}T24:00"), format!("{ymd}T9:05")] {
                assert_eq!(re.is_match(&s), crate::clock::parse_local(&s).is_some(), "{s}");
                checked += 1;
            }
            day = day.succ_opt().unwrap();
        }
        for year in [1970, 1971, 1972, 1900, 2000, 2100, 2400, 9996, 9999, 10000] {
            for md in ["02-29", "02-30", "04-31", "13-01", "00-10", "01-00", "12-31"] {
                let s = format!("{year}-{md}T12:00");
                assert_eq!(re.is_match(&s), crate::clock::parse_local(&s).is_some(), "{s}");
            }
        }
        for s in ["+2026-01-01T10:00", "2026-1-01T10:00", "2026-01-01 10:00", "2026-01-01T10:00Z", ""] {
            assert!(!re.is_match(s) && crate::clock::parse_local(s).is_none(), "{s}");
        }
        assert!(checked > 600_000);
    }

    #[test]
    fn the_hhmm_pattern_is_the_parser() {
        let re = regex::Regex::new(HHMM).unwrap();
        for h in ["00", "09", "23", "24", "+1", "1", "99", "0a"] {
            for m in ["00", "59", "60", "+1", "5"] {
                let s = format!("{h}:{m}");
                assert_eq!(re.is_match(&s), crate::sop::timing::parse_hhmm(&s).is_some(), "{s}");
            }
        }
    }

    #[test]
    fn integer_ranges_match_exactly_their_numbers() {
        for (lo, hi) in [(0, 59), (1, 31), (0, 7), (1, 90), (1, 2160), (1, 129_600), (7, 7), (19, 1234), (0, 9)] {
            let re = regex::Regex::new(&format!("^({})$", int_range(lo, hi))).unwrap();
            for n in 0..=hi.max(200) * 2 {
                assert_eq!(re.is_match(&n.to_string()), (lo..=hi).contains(&n), "{n} in {lo}..={hi}: {re}");
            }
            assert!(!re.is_match(&format!("0{lo}")), "no leading zeros");
        }
    }

    #[test]
    fn the_text_pattern_needs_a_visible_character_only_when_not_blank_is_asked() {
        let p = text_pattern(true, ",");
        assert!(p.starts_with("^[^") && p.ends_with("]*$"));
        assert!(p.contains(r"\u3000,]"), "the required character excludes spaces and the extra class: {p}");
        assert_eq!(text_pattern(false, ""), format!("^[^{CONTROL_BUT_TAB_NL}]*$"));
    }

    /// The code points a class body such as `\u0000-\u001F\u007F` names.
    fn class(body: &str) -> Vec<u32> {
        let hex = |s: &str| u32::from_str_radix(s, 16).unwrap();
        let mut out = Vec::new();
        for part in body.split("\\u").filter(|p| !p.is_empty()) {
            let (from, rest) = part.split_at(4);
            let from = hex(from);
            out.push(from);
            if rest == "-" {
                out.push(u32::MAX); // the next part closes the range
            }
        }
        let mut points = Vec::new();
        let mut i = 0;
        while i < out.len() {
            if out.get(i + 1) == Some(&u32::MAX) {
                points.extend(out[i]..=out[i + 2]);
                i += 3;
            } else {
                points.push(out[i]);
                i += 1;
            }
        }
        points
    }

    #[test]
    fn the_spelt_out_classes_are_rusts_control_and_white_space() {
        let all =
            |f: fn(char) -> bool| (0..=0x10ffff).filter(|&c| char::from_u32(c).is_some_and(f)).collect::<Vec<_>>();
        assert_eq!(class(CONTROL), all(char::is_control));
        assert!(class(SPACE).iter().all(|&c| char::from_u32(c).is_some_and(char::is_whitespace)));
        let mut space = class(CONTROL_SPACE);
        space.extend(class(SPACE));
        space.sort_unstable();
        assert_eq!(space, all(char::is_whitespace));
        assert_eq!(white_space(), format!("[{CONTROL_SPACE}{SPACE}]"));
        let tab_nl = class(CONTROL_BUT_TAB_NL);
        assert_eq!(all(char::is_control).into_iter().filter(|c| !tab_nl.contains(c)).collect::<Vec<_>>(), [9, 10, 13]);
    }
}
