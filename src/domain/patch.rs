//! One field of a partial update (`PATCH`): left as it is, cleared with `null`, or set.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not sent.
    #[default]
    Keep,
    /// The field was sent as `null`.
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// The new value: `None` for `Keep` and `Clear`.
    pub fn value(self) -> Option<T> {
        match self {
            Patch::Set(value) => Some(value),
            Patch::Keep | Patch::Clear => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(value) => Patch::Set(f(value)),
        }
    }
}

/// A missing field never reaches this (`#[serde(default)]` makes it `Keep`): what arrives is
/// `null` or a value.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| value.map_or(Patch::Clear, Patch::Set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        url: Patch<String>,
    }

    #[test]
    fn missing_null_and_value_are_three_cases() {
        let parse = |json| serde_json::from_str::<Body>(json).expect("parses").url;
        assert_eq!(parse("{}"), Patch::Keep);
        assert_eq!(parse(r#"{"url": null}"#), Patch::Clear);
        assert_eq!(parse(r#"{"url": "x"}"#), Patch::Set("x".to_owned()));
    }
}
