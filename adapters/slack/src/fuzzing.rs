//! The checks the Slack fuzz targets in `fuzz/` run, also replayed over their corpus by this
//! crate's integration tests (see `liftgate_policy::fuzzing`). Each reads the bytes exactly as
//! the HTTP endpoints or the Socket Mode loop do, up to the point where the adapter would look
//! the person up. Not part of the API.

use std::collections::HashMap;

use serde_json::Value;

use crate::payload::{Inbound, Interaction, form_fields, interaction_body};
use crate::socket::{Frame, read_frame};

/// Target `slack_interaction`: a `/slack/interactions` or `/slack/options` body (form-encoded
/// `payload=<json>`, or JSON), then the interaction the dispatcher reads from it.
pub fn slack_interaction(data: &[u8]) {
    match interaction_body(data) {
        Ok(payload) => interaction(payload),
        Err(problem) => assert!(!problem.is_empty()),
    }
}

/// Target `slack_command`: a `/slack/commands` body. The fields read back unchanged when
/// encoded again, so what the command handler sees is exactly what was sent.
pub fn slack_command(data: &[u8]) {
    let fields = form_fields(data);
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    assert_eq!(form_fields(encoded.as_bytes()), fields, "{encoded:?}");
}

/// Target `slack_socket`: one Socket Mode text frame (always UTF-8 on the wire), and what its
/// envelope carries.
pub fn slack_socket(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Frame::Envelope(envelope) = read_frame(text) else {
        return;
    };
    let frame: Value = serde_json::from_str(text).unwrap_or_default();
    assert_eq!(frame["envelope_id"].as_str(), Some(envelope.id.as_str()));
    match envelope.inbound {
        Some(Inbound::Interaction(payload)) => interaction(payload),
        Some(Inbound::Command(fields)) => {
            let sent = frame["payload"].as_object().map_or(0, serde_json::Map::len);
            assert_eq!(fields.len(), sent, "command fields lost");
            check_command_fields(&fields);
        }
        Some(Inbound::Event(_)) | None => {}
    }
}

/// What `SlackAdapter::handle` does first with an interaction payload, then the accessors the
/// handlers use, with the properties they rely on.
fn interaction(payload: Value) {
    let Ok(interaction) = serde_json::from_value::<Interaction>(payload) else {
        return;
    };
    if let Some(conversation) = interaction.conversation() {
        let from_container = interaction
            .container
            .as_ref()
            .and_then(|container| container.channel_id.as_deref());
        let from_channel = interaction
            .channel
            .as_ref()
            .map(|channel| channel.id.as_str());
        assert!(from_container.or(from_channel) == Some(conversation.as_str()));
    }
    let Some(view) = &interaction.view else {
        return;
    };
    let key = view.session_key();
    assert!(key == view.id || Some(key) == view.root_view_id.as_deref());
    let blocks = view
        .state
        .values
        .keys()
        .map(|block_id| block_id.split('.').next().unwrap_or_default())
        .collect::<Vec<_>>();
    for block in blocks {
        let _ = (view.selected(block), view.text(block));
        if let Some(block_id) = view.input_block_id(block) {
            assert!(
                block_id == block || block_id.starts_with(&format!("{block}.")),
                "{block_id:?} is not block {block:?}"
            );
        }
    }
}

fn check_command_fields(fields: &HashMap<String, String>) {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    assert_eq!(&form_fields(encoded.as_bytes()), fields);
}
