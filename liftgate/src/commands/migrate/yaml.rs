//! Small helpers to write YAML by hand, so the converted file can carry a comment on each line
//! naming where its value came from.

use serde_json::Value;

/// One scalar as YAML (quoted when plain text would read as something else).
pub(super) fn scalar(value: &Value) -> String {
    match serde_yaml_ng::to_string(value) {
        Ok(text) => text.trim_end().to_owned(),
        // A JSON scalar always serializes; fall back to JSON, which is valid YAML.
        Err(_) => value.to_string(),
    }
}

/// A string scalar.
pub(super) fn string(text: &str) -> String {
    scalar(&Value::from(text))
}

/// A flow list of strings: `[a, b, "c: d"]`.
pub(super) fn flow_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|item| string(item)).collect();
    format!("[{}]", inner.join(", "))
}

/// A block sequence of mappings (the statements), indented by `indent` spaces.
pub(super) fn block(value: &Value, indent: usize) -> String {
    let text = match serde_yaml_ng::to_string(value) {
        Ok(text) => text,
        Err(_) => value.to_string(),
    };
    let pad = " ".repeat(indent);
    text.lines()
        .map(|line| format!("{pad}{line}\n"))
        .collect::<String>()
}

/// `key: value  # comment` at `indent`, the comment aligned when the line is short.
pub(super) fn line(indent: usize, key: &str, value: &str, comment: &str) -> String {
    let body = format!("{}{key}: {value}", " ".repeat(indent));
    if comment.is_empty() {
        return format!("{body}\n");
    }
    let width = 44usize.max(body.len() + 2);
    format!("{body:<width$}# {comment}\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(string("C0123"), "C0123");
        assert_eq!(string("8h"), "8h");
        assert_eq!(string("@new.example.com"), "'@new.example.com'");
        assert_eq!(string("true"), "'true'");
        assert_eq!(scalar(&json!(2)), "2");
        assert_eq!(
            flow_list(&["30m".into(), "1h".into()]),
            "[30m, 1h]".to_owned()
        );
    }
}
