//! PATCH semantics: a field left out is unchanged, `null` clears it, a value
//! sets it. `Option<Option<T>>` with [`double_option`] tells the three apart.

use serde::{Deserialize, Deserializer};

/// Deserialises a present field (even `null`) as `Some(..)`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Applies a double option to a nullable field.
pub fn apply<T>(target: &mut Option<T>, patch: Option<Option<T>>) {
    if let Some(v) = patch {
        *target = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct P {
        #[serde(default, deserialize_with = "double_option")]
        region: Option<Option<String>>,
    }

    #[test]
    fn absent_null_and_value_are_told_apart() {
        let absent: P = serde_json::from_str("{}").unwrap();
        let null: P = serde_json::from_str(r#"{"region": null}"#).unwrap();
        let set: P = serde_json::from_str(r#"{"region": "sh"}"#).unwrap();
        let mut r = Some("bj".to_owned());
        apply(&mut r, absent.region);
        assert_eq!(r.as_deref(), Some("bj"));
        apply(&mut r, set.region);
        assert_eq!(r.as_deref(), Some("sh"));
        apply(&mut r, null.region);
        assert_eq!(r, None);
    }
}
