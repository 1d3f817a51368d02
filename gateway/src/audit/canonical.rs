//! The canonical form of a JSON value that audit hashes and checkpoint signatures cover
//! (docs/reference.md §7): RFC 8785 (JSON Canonicalization Scheme) for the values audit
//! documents hold. Object members sorted by key (byte order of their UTF-8, which for the
//! ASCII keys used equals RFC 8785's UTF-16 order), no whitespace, strings escaped as
//! serde_json escapes them (only `"`, `\` and control characters, as `\n`-style escapes or
//! lowercase `\u00xx`), integers in plain decimal.
//!
//! Written here rather than taken from a crate: the few JCS crates either pull in a float
//! formatter these documents never need or are unmaintained, and the form must stay byte for
//! byte what docs/reference.md §7 promises, so it is pinned by the tests below.

use serde_json::Value;

/// The canonical bytes of `value`, appended to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_object(map, None, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(text) => write_string(text, out),
        // Numbers, booleans and null: serde_json's compact text is already canonical for
        // integers (audit documents hold no floats).
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn write_object(map: &serde_json::Map<String, Value>, omit: Option<&str>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(key, _)| Some(key.as_str()) != omit)
        .collect();
    members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (index, (key, member)) in members.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_canonical(member, out);
    }
    out.push(b'}');
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The canonical bytes of `value` without its top-level member `omit` (the `hash` of a
/// record, the `signature` of a checkpoint).
pub fn canonical_without(value: &Value, omit: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    match value {
        Value::Object(map) => write_object(map, Some(omit), &mut out),
        other => write_canonical(other, &mut out),
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: &Value) -> String {
        let mut out = Vec::new();
        write_canonical(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn members_are_sorted_and_nothing_is_spaced() {
        let value = json!({"b": 1, "a": [true, null, "x"], "c": {"z": -5, "y": "é"}});
        assert_eq!(
            canonical(&value),
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":"é","z":-5}}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_rfc_8785_says() {
        let value =
            json!("quote \" backslash \\ newline \n tab \t bell \u{7} slash / delete \u{7f}");
        assert_eq!(
            canonical(&value),
            "\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 slash / delete \u{7f}\""
        );
    }

    #[test]
    fn the_omitted_member_is_left_out_at_the_top_level_only() {
        let value = json!({"hash": "h", "x": {"hash": "kept"}});
        assert_eq!(
            String::from_utf8(canonical_without(&value, "hash")).unwrap(),
            r#"{"x":{"hash":"kept"}}"#
        );
    }
}
