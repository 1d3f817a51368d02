//! The Slack app manifests in `manifests/slack/` name what the adapter serves: the upstream
//! shortcut callback ids, the two commands, the routes and the scopes the adapter calls with.

use serde_json::Value;

fn manifest(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../manifests/slack")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap()
}

fn strings(value: &Value, field: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

fn check_common(manifest: &Value) {
    let features = &manifest["features"];
    assert_eq!(
        strings(&features["shortcuts"], "callback_id"),
        ["request_for_access", "request_for_group_membership"]
    );
    assert!(
        features["shortcuts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|shortcut| shortcut["type"] == "global")
    );
    assert_eq!(
        strings(&features["slash_commands"], "command"),
        ["/access", "/group-access"]
    );
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|scope| scope.as_str().unwrap())
        .collect();
    for needed in [
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
    ] {
        assert!(
            scopes.contains(&needed),
            "{needed} is missing from {scopes:?}"
        );
    }
    assert_eq!(manifest["settings"]["interactivity"]["is_enabled"], true);
}

#[test]
fn the_http_manifest_points_slack_at_the_adapter_routes() {
    let manifest = manifest("app-manifest.yaml");
    check_common(&manifest);
    let interactivity = &manifest["settings"]["interactivity"];
    assert_eq!(
        interactivity["request_url"],
        "https://liftgate.example.com/slack/interactions"
    );
    assert_eq!(
        interactivity["message_menu_options_url"],
        "https://liftgate.example.com/slack/options"
    );
    for command in manifest["features"]["slash_commands"].as_array().unwrap() {
        assert_eq!(
            command["url"],
            "https://liftgate.example.com/slack/commands"
        );
    }
    assert_eq!(manifest["settings"]["socket_mode_enabled"], false);
}

#[test]
fn the_socket_mode_manifest_needs_no_public_url() {
    let manifest = manifest("app-manifest.socket-mode.yaml");
    check_common(&manifest);
    assert_eq!(manifest["settings"]["socket_mode_enabled"], true);
    let text = serde_json::to_string(&manifest).unwrap();
    assert!(
        !text.contains("https://"),
        "no request URLs in Socket Mode: {text}"
    );
}
