//! The Web API methods, with Slack's checks and error codes.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{
    APP_TOKEN, BOT_TOKEN, BOT_USER, Ephemeral, FakeView, State, StoredMessage, TRIGGER_LIFETIME,
};

pub struct Context {
    pub now: OffsetDateTime,
    pub socket_port: u16,
}

fn fail(code: &str) -> Value {
    json!({ "ok": false, "error": code })
}

fn text_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

pub fn call(
    state: &mut State,
    context: &Context,
    method: &str,
    header_token: Option<&str>,
    body_token: Option<&str>,
    args: &Map<String, Value>,
) -> Value {
    if method == "apps.connections.open" {
        // The app-level token is accepted only in the Authorization header.
        return match (header_token, body_token) {
            (Some(APP_TOKEN), _) => connections_open(state, context),
            (None, None) => fail("not_authed"),
            _ => fail("invalid_auth"),
        };
    }
    match header_token.or(body_token) {
        None => return fail("not_authed"),
        Some(BOT_TOKEN) => {}
        Some(_) => return fail("invalid_auth"),
    }
    match method {
        "auth.test" => {
            let mut answer =
                json!({ "ok": true, "team_id": "T1", "user_id": BOT_USER, "bot_id": "BBOT" });
            if let Some(enterprise) = &state.enterprise_id {
                answer["enterprise_id"] = json!(enterprise);
            }
            answer
        }
        "chat.postMessage" => post_message(state, args),
        "chat.update" => update_message(state, args),
        "chat.postEphemeral" => post_ephemeral(state, args),
        "views.open" => views_open(state, context, args),
        "views.update" => views_update(state, args),
        "views.push" => views_push(state, context, args),
        "users.info" => users_info(state, args),
        "users.lookupByEmail" => lookup_by_email(state, args),
        "conversations.open" => conversations_open(state, args),
        _ => fail("unknown_method"),
    }
}

fn known_channel(state: &State, channel: &str) -> bool {
    state.channels.contains(channel) || state.direct_messages.values().any(|dm| dm == channel)
}

/// Block Kit limits for messages (chat-protocols.md §1.6).
fn check_message_blocks(blocks: &Value) -> Result<(), &'static str> {
    let Some(blocks) = blocks.as_array() else {
        return Err("invalid_blocks_format");
    };
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    for block in blocks {
        check_block(block)?;
    }
    Ok(())
}

fn check_block(block: &Value) -> Result<(), &'static str> {
    let kind = block["type"].as_str().ok_or("invalid_blocks")?;
    match kind {
        "section" => {
            if block["text"]["text"]
                .as_str()
                .is_some_and(|text| text.chars().count() > 3000)
            {
                return Err("invalid_blocks");
            }
            if let Some(fields) = block["fields"].as_array()
                && (fields.len() > 10
                    || fields.iter().any(|field| {
                        field["text"]
                            .as_str()
                            .is_none_or(|text| text.chars().count() > 2000)
                    }))
            {
                return Err("invalid_blocks");
            }
        }
        "header" => {
            if block["text"]["type"] != "plain_text"
                || block["text"]["text"]
                    .as_str()
                    .is_none_or(|text| text.chars().count() > 150)
            {
                return Err("invalid_blocks");
            }
        }
        "actions" => {
            let elements = block["elements"].as_array().ok_or("invalid_blocks")?;
            if elements.is_empty() || elements.len() > 25 {
                return Err("invalid_blocks");
            }
            for element in elements {
                check_element(element)?;
            }
        }
        "input" => {
            if block["label"]["text"]
                .as_str()
                .is_none_or(|text| text.chars().count() > 2000)
            {
                return Err("invalid_blocks");
            }
            check_element(&block["element"])?;
        }
        "context" | "divider" => {}
        _ => return Err("invalid_blocks"),
    }
    if block["block_id"].as_str().is_some_and(|id| id.len() > 255) {
        return Err("invalid_blocks");
    }
    Ok(())
}

fn check_element(element: &Value) -> Result<(), &'static str> {
    if element["action_id"]
        .as_str()
        .is_some_and(|id| id.len() > 255)
    {
        return Err("invalid_blocks");
    }
    match element["type"].as_str() {
        Some("button") => {
            let text_ok = element["text"]["text"]
                .as_str()
                .is_some_and(|text| text.chars().count() <= 75);
            let value_ok = element["value"]
                .as_str()
                .is_none_or(|value| value.chars().count() <= 2000);
            if !text_ok || !value_ok {
                return Err("invalid_blocks");
            }
            if let Some(style) = element["style"].as_str()
                && style != "primary"
                && style != "danger"
            {
                return Err("invalid_blocks");
            }
        }
        Some("static_select") => {
            let options = element["options"].as_array().ok_or("invalid_blocks")?;
            if options.is_empty() || options.len() > 100 {
                return Err("invalid_blocks");
            }
            for option in options {
                check_option(option)?;
            }
            if !element["initial_option"].is_null() && !options.contains(&element["initial_option"])
            {
                return Err("invalid_blocks");
            }
        }
        Some("external_select") => {
            if !element["initial_option"].is_null() {
                check_option(&element["initial_option"])?;
            }
        }
        Some("plain_text_input") => {
            if element["max_length"].as_u64().is_some_and(|max| max > 3000) {
                return Err("invalid_blocks");
            }
        }
        Some("datetimepicker") => {}
        Some("checkboxes") => {
            let options = element["options"].as_array().ok_or("invalid_blocks")?;
            if options.is_empty() || options.len() > 10 {
                return Err("invalid_blocks");
            }
            for option in options {
                check_option(option)?;
            }
        }
        _ => return Err("invalid_blocks"),
    }
    Ok(())
}

fn check_option(option: &Value) -> Result<(), &'static str> {
    let text_ok = option["text"]["text"]
        .as_str()
        .is_some_and(|text| text.chars().count() <= 75);
    let value_ok = option["value"]
        .as_str()
        .is_some_and(|value| value.chars().count() <= 150);
    if text_ok && value_ok {
        Ok(())
    } else {
        Err("invalid_blocks")
    }
}

fn post_message(state: &mut State, args: &Map<String, Value>) -> Value {
    let Some(channel) = text_arg(args, "channel") else {
        return fail("channel_not_found");
    };
    if !known_channel(state, channel) {
        return fail("channel_not_found");
    }
    let text = text_arg(args, "text").unwrap_or_default().to_owned();
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    if text.is_empty() && blocks.is_null() {
        return fail("no_text");
    }
    if !blocks.is_null()
        && let Err(code) = check_message_blocks(&blocks)
    {
        return fail(code);
    }
    let thread_ts = text_arg(args, "thread_ts").map(str::to_owned);
    if let Some(parent) = &thread_ts
        && !state
            .messages
            .iter()
            .any(|message| message.channel == channel && &message.ts == parent)
    {
        return fail("thread_not_found");
    }
    let n = state.next();
    let ts = format!("1800000000.{n:06}");
    let channel = channel.to_owned();
    state.messages.push(StoredMessage {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts,
        text: text.clone(),
        blocks: blocks.clone(),
        by_bot: true,
        history: Vec::new(),
    });
    json!({ "ok": true, "channel": channel, "ts": ts, "message": { "text": text, "blocks": blocks, "user": BOT_USER } })
}

fn update_message(state: &mut State, args: &Map<String, Value>) -> Value {
    let (Some(channel), Some(ts)) = (text_arg(args, "channel"), text_arg(args, "ts")) else {
        return fail("message_not_found");
    };
    if !known_channel(state, channel) {
        return fail("channel_not_found");
    }
    let text = text_arg(args, "text").unwrap_or_default().to_owned();
    if text.chars().count() > 4000 {
        return fail("msg_too_long");
    }
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    if !blocks.is_null()
        && let Err(code) = check_message_blocks(&blocks)
    {
        return fail(code);
    }
    let Some(message) = state
        .messages
        .iter_mut()
        .find(|message| message.channel == channel && message.ts == ts)
    else {
        return fail("message_not_found");
    };
    if !message.by_bot {
        return fail("cant_update_message");
    }
    let earlier = (
        std::mem::take(&mut message.text),
        std::mem::take(&mut message.blocks),
    );
    message.history.push(earlier);
    message.text = text;
    message.blocks = blocks;
    json!({ "ok": true, "channel": channel, "ts": ts })
}

fn post_ephemeral(state: &mut State, args: &Map<String, Value>) -> Value {
    let (Some(channel), Some(user)) = (text_arg(args, "channel"), text_arg(args, "user")) else {
        return fail("invalid_arguments");
    };
    if !known_channel(state, channel) {
        return fail("channel_not_found");
    }
    if !state.users.contains_key(user) {
        return fail("user_not_found");
    }
    let text = text_arg(args, "text").unwrap_or_default().to_owned();
    state.ephemerals.push(Ephemeral {
        channel: channel.to_owned(),
        user: user.to_owned(),
        text,
    });
    let n = state.next();
    json!({ "ok": true, "message_ts": format!("1800000000.{n:06}") })
}

/// Modal limits (chat-protocols.md §1.6).
fn check_view(view: &Value) -> Result<(), &'static str> {
    if view["type"] != "modal" {
        return Err("invalid_arguments");
    }
    if view["title"]["text"]
        .as_str()
        .is_none_or(|title| title.chars().count() > 24)
    {
        return Err("invalid_arguments");
    }
    let blocks = view["blocks"].as_array().ok_or("invalid_arguments")?;
    if blocks.len() > 100 {
        return Err("invalid_arguments");
    }
    for block in blocks {
        check_block(block).map_err(|_| "invalid_arguments")?;
    }
    let has_inputs = blocks.iter().any(|block| block["type"] == "input");
    if has_inputs && view["submit"]["text"].as_str().is_none() {
        return Err("invalid_arguments");
    }
    for key in ["submit", "close"] {
        if view[key]["text"]
            .as_str()
            .is_some_and(|text| text.chars().count() > 24)
        {
            return Err("invalid_arguments");
        }
    }
    if view["private_metadata"]
        .as_str()
        .is_some_and(|metadata| metadata.len() > 3000)
    {
        return Err("invalid_arguments");
    }
    if view.to_string().len() > 250_000 {
        return Err("view_too_large");
    }
    Ok(())
}

fn view_answer(view: &FakeView) -> Value {
    let mut answer = view.view.clone();
    answer["id"] = json!(view.id);
    answer["hash"] = json!(view.hash);
    answer["root_view_id"] = json!(view.root_id);
    answer["state"] = json!({ "values": {} });
    json!({ "ok": true, "view": answer })
}

fn take_trigger(
    state: &mut State,
    context: &Context,
    args: &Map<String, Value>,
) -> Result<String, &'static str> {
    let trigger_id = text_arg(args, "trigger_id").ok_or("invalid_trigger_id")?;
    let trigger = state
        .triggers
        .get_mut(trigger_id)
        .ok_or("invalid_trigger_id")?;
    if trigger.used {
        return Err("exchanged_trigger_id");
    }
    if context.now - trigger.issued > TRIGGER_LIFETIME {
        return Err("expired_trigger_id");
    }
    trigger.used = true;
    Ok(trigger.user.clone())
}

fn views_open(state: &mut State, context: &Context, args: &Map<String, Value>) -> Value {
    let view = args.get("view").cloned().unwrap_or(Value::Null);
    if let Err(code) = check_view(&view) {
        return fail(code);
    }
    let user = match take_trigger(state, context, args) {
        Ok(user) => user,
        Err(code) => return fail(code),
    };
    let n = state.next();
    let id = format!("V{n}");
    let stored = FakeView {
        id: id.clone(),
        root_id: id.clone(),
        user,
        hash: format!("{n}.hash{n}"),
        view,
        answers: Default::default(),
        versions: 1,
    };
    let answer = view_answer(&stored);
    state.views.insert(id, stored);
    answer
}

fn views_update(state: &mut State, args: &Map<String, Value>) -> Value {
    let view = args.get("view").cloned().unwrap_or(Value::Null);
    let view_id = text_arg(args, "view_id");
    let external_id = text_arg(args, "external_id");
    let view_id = match (view_id, external_id) {
        (Some(view_id), None) => view_id.to_owned(),
        (None, Some(_)) => return fail("not_found"),
        _ => return fail("invalid_arguments"),
    };
    if let Err(code) = check_view(&view) {
        return fail(code);
    }
    let n = state.next();
    let Some(stored) = state.views.get_mut(&view_id) else {
        return fail("not_found");
    };
    if let Some(hash) = text_arg(args, "hash")
        && hash != stored.hash
    {
        return fail("hash_conflict");
    }
    // Slack keeps what was entered in inputs whose block id and action id stay the same.
    let kept: Vec<String> = view["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|block| block["block_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    stored.answers.retain(|block_id, _| kept.contains(block_id));
    stored.view = view;
    stored.hash = format!("{n}.hash{n}");
    stored.versions += 1;
    view_answer(stored)
}

fn views_push(state: &mut State, context: &Context, args: &Map<String, Value>) -> Value {
    let view = args.get("view").cloned().unwrap_or(Value::Null);
    if let Err(code) = check_view(&view) {
        return fail(code);
    }
    let user = match take_trigger(state, context, args) {
        Ok(user) => user,
        Err(code) => return fail(code),
    };
    let Some(root) = state
        .views
        .values()
        .filter(|view| view.user == user)
        .map(|view| view.root_id.clone())
        .next_back()
    else {
        return fail("not_found");
    };
    let depth = state
        .views
        .values()
        .filter(|view| view.root_id == root)
        .count();
    if depth >= 3 {
        return fail("push_limit_reached");
    }
    let n = state.next();
    let id = format!("V{n}");
    let stored = FakeView {
        id: id.clone(),
        root_id: root,
        user,
        hash: format!("{n}.hash{n}"),
        view,
        answers: Default::default(),
        versions: 1,
    };
    let answer = view_answer(&stored);
    state.views.insert(id, stored);
    answer
}

fn user_json(state: &State, user: &super::FakeUser) -> Value {
    let mut profile = json!({ "real_name": user.name, "display_name": user.name });
    if state.scopes.contains("users:read.email") && !user.email.is_empty() {
        profile["email"] = json!(user.email);
    }
    let mut answer = json!({
        "id": user.id, "team_id": user.team_id, "name": user.name, "deleted": user.deleted,
        "is_bot": user.is_bot, "is_restricted": user.is_restricted,
        "is_ultra_restricted": user.is_ultra_restricted, "is_email_confirmed": user.is_email_confirmed,
        "profile": profile,
    });
    if user.is_stranger {
        answer["is_stranger"] = json!(true);
    }
    if let Some(enterprise) = &user.enterprise_id {
        answer["enterprise_user"] =
            json!({ "id": user.id, "enterprise_id": enterprise, "enterprise_name": "Corp" });
    }
    answer
}

fn users_info(state: &State, args: &Map<String, Value>) -> Value {
    if !state.scopes.contains("users:read") {
        return json!({ "ok": false, "error": "missing_scope", "needed": "users:read" });
    }
    let Some(user) = text_arg(args, "user").and_then(|id| state.users.get(id)) else {
        return fail("user_not_found");
    };
    json!({ "ok": true, "user": user_json(state, user) })
}

fn lookup_by_email(state: &State, args: &Map<String, Value>) -> Value {
    if !state.scopes.contains("users:read.email") {
        return json!({ "ok": false, "error": "missing_scope", "needed": "users:read.email" });
    }
    let email = text_arg(args, "email").unwrap_or_default().to_lowercase();
    match state
        .users
        .values()
        .find(|user| !user.email.is_empty() && user.email.to_lowercase() == email)
    {
        Some(user) => json!({ "ok": true, "user": user_json(state, user) }),
        None => fail("users_not_found"),
    }
}

fn conversations_open(state: &mut State, args: &Map<String, Value>) -> Value {
    if !state.scopes.contains("im:write") {
        return json!({ "ok": false, "error": "missing_scope", "needed": "im:write" });
    }
    let users: Vec<&str> = text_arg(args, "users")
        .unwrap_or_default()
        .split(',')
        .filter(|user| !user.is_empty())
        .collect();
    let [user] = users.as_slice() else {
        return fail("invalid_arguments");
    };
    match state.users.get(*user) {
        None => return fail("user_not_found"),
        Some(found) if found.is_bot => return fail("cannot_dm_bot"),
        Some(_) => {}
    }
    let channel = format!("D{}", user.trim_start_matches('U'));
    state
        .direct_messages
        .insert((*user).to_owned(), channel.clone());
    json!({ "ok": true, "channel": { "id": channel } })
}

fn connections_open(state: &mut State, context: &Context) -> Value {
    let n = state.next();
    let ticket = format!("ticket-{n}");
    state.tickets.insert(ticket.clone(), false);
    json!({ "ok": true, "url": format!("ws://127.0.0.1:{}/link/?ticket={ticket}&app_id=A1", context.socket_port) })
}
