//! The Socket Mode side: a WebSocket listener that accepts the single-use tickets handed out
//! by `apps.connections.open`, greets with `hello`, pushes envelopes and records acks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::{FakeSlack, State};

/// What the fake sends down a connection.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    /// Drops the TCP connection without a close handshake.
    Drop,
}

#[derive(Debug, Default)]
pub struct SocketState {
    /// Open connections, by number, oldest first.
    pub connections: Vec<(u32, mpsc::UnboundedSender<Outgoing>)>,
    pub accepted: u32,
    pub refused: u32,
    /// Acks received: envelope id → the whole ack frame.
    pub acks: HashMap<String, Value>,
    pub pongs: u32,
    envelopes: u32,
}

/// Starts the listener; returns its port.
pub async fn start(state: Arc<Mutex<State>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(Arc::clone(&state), stream));
        }
    });
    port
}

#[expect(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback returns its own response type"
)]
async fn serve(state: Arc<Mutex<State>>, stream: tokio::net::TcpStream) {
    let checker = Arc::clone(&state);
    let check = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let ticket = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "ticket")
            .map(|(_, value)| value.into_owned());
        let mut state = checker.lock().unwrap();
        let valid = request.uri().path() == "/link/"
            && ticket
                .as_ref()
                .and_then(|ticket| state.tickets.get_mut(ticket))
                .is_some_and(|used| !std::mem::replace(used, true));
        if valid {
            Ok(response)
        } else {
            state.socket.refused += 1;
            let mut refusal = ErrorResponse::new(Some("invalid ticket".to_owned()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            Err(refusal)
        }
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let (mut sink, mut incoming) = socket.split();
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let number = {
        let mut state = state.lock().unwrap();
        state.socket.accepted += 1;
        let number = state.socket.accepted;
        state.socket.connections.push((number, sender));
        number
    };
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": { "host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060 },
        "connection_info": { "app_id": "A1" },
    });
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            command = outgoing.recv() => match command {
                Some(Outgoing::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Drop) | None => break,
            },
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ack) = serde_json::from_str::<Value>(text.as_str())
                        && let Some(id) = ack["envelope_id"].as_str()
                    {
                        state.lock().unwrap().socket.acks.insert(id.to_owned(), ack.clone());
                    }
                }
                Some(Ok(Message::Ping(data))) => {
                    let _ = sink.send(Message::Pong(data)).await;
                }
                Some(Ok(Message::Pong(_))) => state.lock().unwrap().socket.pongs += 1,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    }
    state
        .lock()
        .unwrap()
        .socket
        .connections
        .retain(|(open, _)| *open != number);
}

impl FakeSlack {
    fn latest_connection(&self) -> mpsc::UnboundedSender<Outgoing> {
        let state = self.state();
        state
            .socket
            .connections
            .last()
            .map(|(_, sender)| sender.clone())
            .expect("no Socket Mode connection is open")
    }

    pub fn open_connections(&self) -> usize {
        self.state().socket.connections.len()
    }

    pub fn accepted_connections(&self) -> u32 {
        self.state().socket.accepted
    }

    /// Pushes an envelope down the newest connection; returns its id.
    pub fn push_envelope(
        &self,
        kind: &str,
        payload: Value,
        accepts_response_payload: bool,
    ) -> String {
        let id = {
            let mut state = self.state();
            state.socket.envelopes += 1;
            format!("envelope-{}", state.socket.envelopes)
        };
        self.push_envelope_with_id(&id, kind, payload, accepts_response_payload);
        id
    }

    /// Pushes an envelope with a given id (Slack redelivers with the same id).
    pub fn push_envelope_with_id(
        &self,
        id: &str,
        kind: &str,
        payload: Value,
        accepts_response_payload: bool,
    ) {
        let envelope = json!({
            "envelope_id": id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        });
        self.latest_connection()
            .send(Outgoing::Text(envelope.to_string()))
            .unwrap();
    }

    pub fn ack(&self, envelope_id: &str) -> Option<Value> {
        self.state().socket.acks.get(envelope_id).cloned()
    }

    /// Asks the client to reconnect, as Slack does before recycling a connection.
    pub fn send_disconnect(&self, reason: &str) {
        let frame = json!({ "type": "disconnect", "reason": reason, "debug_info": { "host": "applink-fake" } });
        self.latest_connection()
            .send(Outgoing::Text(frame.to_string()))
            .unwrap();
    }

    /// Drops the newest connection without a word.
    pub fn drop_connection(&self) {
        self.latest_connection().send(Outgoing::Drop).unwrap();
    }
}
