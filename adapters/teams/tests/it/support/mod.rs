//! Fakes and helpers shared by the Teams integration tests.

pub(crate) mod bed;
pub(crate) mod fake_microsoft;
pub(crate) mod keys;
pub(crate) mod tokens;

use serde_json::Value;

pub(crate) use bed::{APP_ID, Bed, DocumentRead, TENANT, default_options, member, personal_chat};
pub(crate) use fake_microsoft::Injected;

/// Titles of a card's buttons.
pub(crate) fn button_titles(card: &Value) -> Vec<String> {
    card["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .map(|a| a["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every text of a card (TextBlocks and facts), joined, for "says what happened" checks.
pub(crate) fn card_text(card: &Value) -> String {
    let mut out = Vec::new();
    collect_text(card, &mut out);
    out.join("\n")
}

fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            match map.get("type").and_then(Value::as_str) {
                Some("TextBlock") => out.push(map["text"].as_str().unwrap_or_default().to_owned()),
                Some("FactSet") => {
                    for fact in map["facts"].as_array().into_iter().flatten() {
                        out.push(format!(
                            "{}: {}",
                            fact["title"].as_str().unwrap(),
                            fact["value"].as_str().unwrap()
                        ));
                    }
                }
                _ => {}
            }
            for (key, child) in map {
                if key != "facts" {
                    collect_text(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        _ => {}
    }
}

/// The input of a form card with this id.
pub(crate) fn input<'a>(card: &'a Value, id: &str) -> &'a Value {
    find(card, &|v| {
        v["id"] == id && v["type"].as_str().is_some_and(|t| t.starts_with("Input."))
    })
    .unwrap_or_else(|| panic!("no input {id}"))
}

pub(crate) fn find<'a>(value: &'a Value, predicate: &dyn Fn(&Value) -> bool) -> Option<&'a Value> {
    if predicate(value) {
        return Some(value);
    }
    match value {
        Value::Object(map) => map.values().find_map(|child| find(child, predicate)),
        Value::Array(items) => items.iter().find_map(|child| find(child, predicate)),
        _ => None,
    }
}

/// The `value`s of a choice set.
pub(crate) fn choice_values(input: &Value) -> Vec<String> {
    input["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap().to_owned())
        .collect()
}

/// A card with ids (UUIDs other than the fixed group id) and times replaced by placeholders,
/// so snapshots stay stable.
pub(crate) fn redacted(card: &Value) -> Value {
    match card {
        Value::String(text) => Value::String(redact_text(text)),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        other => other.clone(),
    }
}

fn redact_text(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if i + 36 <= chars.len() {
            let window: String = chars[i..i + 36].iter().collect();
            let is_uuid = window.char_indices().all(|(j, c)| match j {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
            if is_uuid && window != liftgate_gateway::testing::OPS_GROUP {
                out.push_str("[id]");
                i += 36;
                continue;
            }
        }
        // "2027-01-15 09:00 UTC"
        if i + 20 <= chars.len() {
            let window: String = chars[i..i + 20].iter().collect();
            let bytes = window.as_bytes();
            let is_time = window.ends_with(" UTC")
                && bytes[4] == b'-'
                && bytes[7] == b'-'
                && bytes[10] == b' '
                && bytes[13] == b':'
                && window[..4].chars().all(|c| c.is_ascii_digit());
            if is_time {
                out.push_str("[time]");
                i += 20;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}
