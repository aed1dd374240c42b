//! Deserializers for integer fields that also take a whole number written
//! as a float (`1071.0`): JSON Schema counts it an integer, so a client
//! generated from the document may send it. A fraction or a number out of
//! range is still refused, naming the field.

use serde::de::{Deserializer, Error, Visitor};
use std::fmt;

/// `v` as an `i64` when it is a whole number in range. `i64::MAX` is not a
/// double, so the upper bound is exclusive.
pub fn whole(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64).then_some(v as i64)
}

struct Integral;

impl Visitor<'_> for Integral {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
        whole(v).ok_or_else(|| E::custom(format!("expected an integer, got {v}")))
    }
}

/// An `i64` written as an integer or a whole float.
pub fn integer<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    de.deserialize_any(Integral)
}

/// An optional [`integer`] (`null` reads as absent); use with `#[serde(default)]`.
pub fn opt_integer<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            integer(de).map(Some)
        }
    }
    de.deserialize_option(Opt)
}

fn narrow<T: TryFrom<i64>, E: Error>(n: i64) -> Result<T, E> {
    T::try_from(n).map_err(|_| E::custom(format!("{n} is out of range")))
}

/// An `i32` written as an integer or a whole float.
pub fn int32<'de, D: Deserializer<'de>>(de: D) -> Result<i32, D::Error> {
    narrow(integer(de)?)
}

/// An optional [`int32`] (`null` reads as absent); use with `#[serde(default)]`.
pub fn opt_int32<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i32>, D::Error> {
    opt_integer(de)?.map(narrow).transpose()
}

/// A `u32` written as an integer or a whole float.
pub fn uint32<'de, D: Deserializer<'de>>(de: D) -> Result<u32, D::Error> {
    narrow(integer(de)?)
}

/// An optional [`uint32`] (`null` reads as absent); use with `#[serde(default)]`.
pub fn opt_uint32<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    opt_integer(de)?.map(narrow).transpose()
}

/// An optional nested object (`null` reads as absent): serde's derived
/// structs would also read a JSON array positionally, which the document
/// does not allow. Use with `#[serde(default)]`.
pub fn opt_object<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize;
    match serde_json::Value::deserialize(de)? {
        serde_json::Value::Null => Ok(None),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).map(Some).map_err(D::Error::custom),
        _ => Err(D::Error::custom("must be a JSON object or null")),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::integer")]
        n: i64,
        #[serde(default, deserialize_with = "super::opt_integer")]
        m: Option<i64>,
    }

    fn parse(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn whole_floats_read_as_integers_and_fractions_are_refused() {
        let t = parse(r#"{"n": 1071.0, "m": -3e2}"#).unwrap();
        assert_eq!((t.n, t.m), (1071, Some(-300)));
        let t = parse(r#"{"n": 5, "m": null}"#).unwrap();
        assert_eq!((t.n, t.m), (5, None));
        assert_eq!(parse(r#"{"n": 5}"#).unwrap().m, None);
        assert!(parse(r#"{"n": 1.5}"#).is_err());
        assert!(parse(r#"{"n": 1e19}"#).is_err());
        assert!(parse(r#"{"n": 18446744073709551615}"#).is_err());
        assert!(parse(r#"{"n": "5"}"#).is_err());
    }
}
