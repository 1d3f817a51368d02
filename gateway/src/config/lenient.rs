//! Deserializers that accept a value either typed (from YAML) or as text (from an environment
//! override, where everything is a string): `true`/`"true"`, `10`/`"10"`.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

/// Reads a scalar, keeping serde's own "missing field" error (so an absent required key is
/// reported as required) and replacing any other with `expected`.
fn scalar<'de, D: Deserializer<'de>>(deserializer: D, expected: &str) -> Result<Scalar, D::Error> {
    Scalar::deserialize(deserializer).map_err(|error| {
        let message = error.to_string();
        if message.starts_with("missing field") {
            D::Error::custom(message)
        } else {
            D::Error::custom(expected)
        }
    })
}

fn scalar_text(scalar: Scalar) -> String {
    match scalar {
        Scalar::Bool(value) => value.to_string(),
        Scalar::Unsigned(value) => value.to_string(),
        Scalar::Signed(value) => value.to_string(),
        Scalar::Float(value) => value.to_string(),
        Scalar::Text(value) => value,
    }
}

pub(crate) fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    scalar(deserializer, "expected a string").map(scalar_text)
}

pub(crate) fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match scalar(deserializer, "expected true or false")? {
        Scalar::Bool(value) => Ok(value),
        Scalar::Text(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Scalar::Text(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(D::Error::custom(format!(
            "{:?} is not true or false",
            scalar_text(other)
        ))),
    }
}

pub(crate) fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let scalar = scalar(deserializer, "expected a whole number")?;
    let text = scalar_text(scalar);
    text.trim()
        .parse::<u32>()
        .map_err(|_| D::Error::custom(format!("{text:?} is not a whole number")))
}

pub(crate) fn f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let scalar = scalar(deserializer, "expected a number")?;
    let text = scalar_text(scalar);
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| D::Error::custom(format!("{text:?} is not a number")))
}

/// A duration written `1h30m`; a bare number is refused because its unit would be a guess.
pub(crate) fn duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<liftgate_policy::Duration, D::Error> {
    match scalar(deserializer, "expected a duration like 4h")? {
        Scalar::Text(text) => liftgate_policy::Duration::parse(&text).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "{} is not a duration: write it with a unit, like 30m or 4h",
            scalar_text(other)
        ))),
    }
}

/// A list of durations; also accepts one comma-separated string (environment overrides).
pub(crate) fn durations<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<liftgate_policy::Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<Scalar>),
        Text(String),
    }
    let items: Vec<String> = match ListOrText::deserialize(deserializer)
        .map_err(|_| D::Error::custom("expected a list of durations"))?
    {
        ListOrText::List(items) => items.into_iter().map(scalar_text).collect(),
        ListOrText::Text(text) => text.split(',').map(|item| item.trim().to_owned()).collect(),
    };
    items
        .iter()
        .map(|item| liftgate_policy::Duration::parse(item).map_err(D::Error::custom))
        .collect()
}

/// A list of strings; also accepts one comma-separated string (environment overrides).
pub(crate) fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<Scalar>),
        Text(String),
    }
    Ok(
        match ListOrText::deserialize(deserializer)
            .map_err(|_| D::Error::custom("expected a list of strings"))?
        {
            ListOrText::List(items) => items.into_iter().map(scalar_text).collect(),
            ListOrText::Text(text) if text.trim().is_empty() => Vec::new(),
            ListOrText::Text(text) => text.split(',').map(|item| item.trim().to_owned()).collect(),
        },
    )
}
