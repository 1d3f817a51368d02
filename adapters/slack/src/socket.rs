//! Socket Mode: the gateway dials Slack instead of Slack calling it. `apps.connections.open`
//! (with the app-level token) gives a WebSocket URL; Slack says `hello`, then sends envelopes
//! that carry the same payloads as the HTTP endpoints. Each is acked by its `envelope_id`
//! (with the response body when Slack accepts one). On `disconnect`, or when the connection
//! drops, a new URL is fetched and the connection made again, until shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::adapter::SlackAdapter;
use crate::payload::{Ack, Inbound};

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// Slack asked for a new connection (`disconnect`).
    Refresh(String),
    Failed(String),
}

const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(60);

/// Keeps a Socket Mode connection up until `shutdown` turns true.
pub(crate) async fn run(adapter: Arc<SlackAdapter>, mut shutdown: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    while !*shutdown.borrow() {
        let (ended, greeted) = match adapter.api.connections_open().await {
            Ok(url) => serve(&adapter, &url, &mut shutdown).await,
            Err(error) => (
                Ended::Failed(format!("apps.connections.open failed: {error}")),
                false,
            ),
        };
        if greeted {
            failures = 0;
        }
        match ended {
            Ended::Shutdown => break,
            Ended::Refresh(reason) => {
                tracing::info!(%reason, "Slack asked for a new Socket Mode connection.");
            }
            Ended::Failed(reason) => {
                failures = failures.saturating_add(1);
                let delay = adapter
                    .options
                    .reconnect_delay
                    .saturating_mul(1 << (failures - 1).min(6))
                    .min(MAX_RECONNECT_DELAY);
                tracing::warn!(%reason, retry_in = ?delay, "Socket Mode connection lost; reconnecting.");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    tracing::info!("Socket Mode stopped.");
}

/// One connection, until it ends. Also says whether Slack greeted it.
async fn serve(
    adapter: &Arc<SlackAdapter>,
    url: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> (Ended, bool) {
    let socket = match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => socket,
        Err(error) => return (Ended::Failed(format!("could not connect: {error}")), false),
    };
    let (mut sink, mut stream) = socket.split();
    let (acks, mut pending_acks) = mpsc::unbounded_channel::<String>();
    let mut ping = tokio::time::interval(adapter.options.ping_interval);
    ping.tick().await;
    let mut greeted = false;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    let _ = sink.send(Message::Close(None)).await;
                    return (Ended::Shutdown, greeted);
                }
            }
            Some(ack) = pending_acks.recv() => {
                if let Err(error) = sink.send(Message::Text(ack.into())).await {
                    return (Ended::Failed(format!("could not send an ack: {error}")), greeted);
                }
            }
            _ = ping.tick() => {
                if let Err(error) = sink.send(Message::Ping(Vec::new().into())).await {
                    return (Ended::Failed(format!("could not ping: {error}")), greeted);
                }
            }
            frame = stream.next() => match frame {
                None => return (Ended::Failed("the connection closed".to_owned()), greeted),
                Some(Err(error)) => return (Ended::Failed(error.to_string()), greeted),
                Some(Ok(Message::Close(_))) => return (Ended::Failed("Slack closed the connection".to_owned()), greeted),
                Some(Ok(Message::Text(text))) => match read_frame(text.as_str()) {
                    Frame::NotJson => tracing::warn!("Ignored a Socket Mode frame that is not JSON."),
                    Frame::Hello { connections } => {
                        greeted = true;
                        tracing::info!(connections, "Socket Mode connected.");
                    }
                    Frame::Disconnect { reason } => return (Ended::Refresh(reason), greeted),
                    Frame::Envelope(envelope) => on_envelope(adapter, envelope, acks.clone()),
                    Frame::Other { kind } => tracing::debug!(kind = ?kind, "Ignored a Socket Mode frame."),
                },
                Some(Ok(_)) => {}
            }
        }
    }
}

/// What one Socket Mode text frame is.
#[derive(Debug)]
pub(crate) enum Frame {
    NotJson,
    Hello {
        connections: Option<u64>,
    },
    /// Slack asks for a new connection.
    Disconnect {
        reason: String,
    },
    /// Anything with an `envelope_id`: it carries a payload and must be acked.
    Envelope(Envelope),
    Other {
        kind: Option<String>,
    },
}

/// An envelope, read: its id, whether Slack takes a response payload with the ack, and what
/// it carries (`None` for a kind Liftgate does not use, which is acked and ignored).
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) id: String,
    pub(crate) accepts_payload: bool,
    pub(crate) inbound: Option<Inbound>,
}

/// Reads one text frame off the socket.
pub(crate) fn read_frame(text: &str) -> Frame {
    let Ok(mut frame) = serde_json::from_str::<Value>(text) else {
        return Frame::NotJson;
    };
    match frame["type"].as_str() {
        Some("hello") => Frame::Hello {
            connections: frame["num_connections"].as_u64(),
        },
        Some("disconnect") => Frame::Disconnect {
            reason: frame["reason"].as_str().unwrap_or("unknown").to_owned(),
        },
        kind => match frame["envelope_id"].as_str().map(str::to_owned) {
            Some(id) => {
                let accepts_payload = frame["accepts_response_payload"].as_bool().unwrap_or(false);
                let payload = frame["payload"].take();
                let inbound = match frame["type"].as_str() {
                    Some("interactive") => Some(Inbound::Interaction(payload)),
                    Some("slash_commands") => Some(Inbound::Command(command_fields(&payload))),
                    Some("events_api") => Some(Inbound::Event(payload)),
                    _ => None,
                };
                Frame::Envelope(Envelope {
                    id,
                    accepts_payload,
                    inbound,
                })
            }
            None => Frame::Other {
                kind: kind.map(str::to_owned),
            },
        },
    }
}

/// Handles one envelope off the read loop, so a slow answer never delays the next one.
fn on_envelope(
    adapter: &Arc<SlackAdapter>,
    envelope: Envelope,
    acks: mpsc::UnboundedSender<String>,
) {
    let Envelope {
        id: envelope_id,
        accepts_payload,
        inbound,
    } = envelope;
    let plain_ack = json!({ "envelope_id": envelope_id }).to_string();
    if adapter.seen_envelope(&envelope_id) {
        let _ = acks.send(plain_ack);
        return;
    }
    let Some(inbound) = inbound else {
        tracing::debug!("Acked a Socket Mode envelope of a kind Liftgate does not use.");
        let _ = acks.send(plain_ack);
        return;
    };
    let worker = Arc::clone(adapter);
    adapter.spawn(async move {
        let ack = match worker.handle(inbound).await {
            Ack::Json(body) if accepts_payload => {
                json!({ "envelope_id": envelope_id, "payload": body }).to_string()
            }
            Ack::Invalid(problem) => {
                tracing::warn!(%problem, "Acked a malformed Socket Mode envelope.");
                plain_ack
            }
            _ => plain_ack,
        };
        let _ = acks.send(ack);
    });
}

/// A slash command arrives as a JSON object of the fields the HTTP form would have.
pub(crate) fn command_fields(payload: &Value) -> HashMap<String, String> {
    payload
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}
