//! A fault-injecting HTTP proxy between the gateway and moto. The gateway's AWS endpoint
//! points here; each call is forwarded unless a rule matches its operation, in which case the
//! call is delayed, throttled, answered with a 5xx, reset without an answer, or held until the
//! test releases it (forwarded late, or dropped). Holding a call is how a test picks the exact
//! step at which to kill the gateway: the call is in flight, the process dies, and the test
//! decides whether the effect reached AWS.
//!
//! Operations are named as AWS names them: the `X-Amz-Target` action (`CreateAccountAssignment`,
//! `TransactWriteItems`) for JSON protocols, else `METHOD /first-path-segment` (`POST
//! /schedules`, `PUT /<bucket>`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

/// What a matching rule does to a call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forwards after this long (a slow AWS).
    Delay(Duration),
    /// Answers 400 `ThrottlingException` without forwarding.
    Throttle,
    /// Answers this status (500, 503) without forwarding.
    Status(u16),
    /// Closes the connection without an answer, without forwarding.
    Reset,
    /// Holds the call until [`FaultProxy::release`].
    Hold,
}

#[derive(Debug, Clone)]
struct Rule {
    operation: String,
    /// Calls of the operation to let through before the rule applies.
    skip: usize,
    /// How many matching calls it applies to.
    times: usize,
    fault: Fault,
}

/// What happens to a held call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The call reaches AWS (its effect happens; its answer goes to whoever still listens).
    Forward,
    /// The call never reaches AWS.
    Drop,
}

struct HeldCall {
    operation: String,
    request: Forwarded,
    answer: oneshot::Sender<Option<Response<Full<Bytes>>>>,
}

#[derive(Clone)]
struct Forwarded {
    method: hyper::Method,
    path_and_query: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Every operation seen, in order.
    log: Vec<String>,
    held: VecDeque<HeldCall>,
}

/// The proxy. Dropping it leaves the listener running until the runtime ends.
#[derive(Clone)]
pub struct FaultProxy {
    address: SocketAddr,
    upstream: String,
    state: Arc<Mutex<State>>,
    held_changed: Arc<Notify>,
    client: reqwest::Client,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("address", &self.address)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free local port, forwarding to `upstream` (`http://127.0.0.1:…`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy {
            address: listener.local_addr().unwrap(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            state: Arc::new(Mutex::new(State::default())),
            held_changed: Arc::new(Notify::new()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let serving = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let proxy = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let proxy = proxy.clone();
                        async move { proxy.handle(request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        proxy
    }

    /// The URL to give the gateway as its AWS endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Applies `fault` to `times` calls of `operation`, after letting `skip` through.
    pub fn inject(&self, operation: &str, skip: usize, times: usize, fault: Fault) {
        self.state.lock().unwrap().rules.push(Rule {
            operation: operation.to_owned(),
            skip,
            times,
            fault,
        });
    }

    /// Removes every rule (held calls stay held).
    pub fn clear_rules(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Every operation seen so far, in order.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the log.
    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Waits until a call is held; returns its operation.
    ///
    /// # Panics
    /// When none is held within `timeout`.
    pub async fn wait_held(&self, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.held_changed.notified();
            if let Some(call) = self.state.lock().unwrap().held.front() {
                return call.operation.clone();
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "no call was held within {timeout:?}; seen: {:?}",
                    self.log()
                );
            }
        }
    }

    /// Releases the oldest held call.
    pub async fn release(&self, how: Release) {
        let held = self.state.lock().unwrap().held.pop_front();
        let Some(call) = held else {
            return;
        };
        match how {
            Release::Drop => {
                let _ = call.answer.send(None);
            }
            Release::Forward => {
                let response = self.forward(call.request).await;
                let _ = call.answer.send(Some(response));
            }
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Reset> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let operation = operation_of(&parts);
        let forwarded = Forwarded {
            method: parts.method.clone(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), ToString::to_string),
            headers: parts.headers.clone(),
            body,
        };
        let fault = {
            let mut state = self.state.lock().unwrap();
            state.log.push(operation.clone());
            let mut chosen = None;
            for rule in &mut state.rules {
                if rule.operation != operation || rule.times == 0 {
                    continue;
                }
                if rule.skip > 0 {
                    rule.skip -= 1;
                    continue;
                }
                rule.times -= 1;
                chosen = Some(rule.fault.clone());
                break;
            }
            chosen
        };
        match fault {
            None => Ok(self.forward(forwarded).await),
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(self.forward(forwarded).await)
            }
            Some(Fault::Throttle) => Ok(aws_error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            )),
            Some(Fault::Status(status)) => Ok(aws_error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "InternalServerException",
                "injected by the fault proxy",
            )),
            Some(Fault::Reset) => Err(Reset),
            Some(Fault::Hold) => {
                let (answer, answered) = oneshot::channel();
                self.state.lock().unwrap().held.push_back(HeldCall {
                    operation,
                    request: forwarded,
                    answer,
                });
                self.held_changed.notify_waiters();
                match answered.await {
                    Ok(Some(response)) => Ok(response),
                    _ => Err(Reset),
                }
            }
        }
    }

    async fn forward(&self, request: Forwarded) -> Response<Full<Bytes>> {
        let url = format!("{}{}", self.upstream, request.path_and_query);
        let mut outgoing = self
            .client
            .request(request.method, url)
            .body(request.body.to_vec());
        for (name, value) in &request.headers {
            if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
                outgoing = outgoing.header(name, value);
            }
        }
        match outgoing.send().await {
            Ok(answer) => {
                let mut response = Response::builder().status(answer.status().as_u16());
                for (name, value) in answer.headers() {
                    if name != hyper::header::CONTENT_LENGTH
                        && name != hyper::header::TRANSFER_ENCODING
                    {
                        response = response.header(name.as_str(), value.as_bytes());
                    }
                }
                let body = answer.bytes().await.unwrap_or_default();
                response.body(Full::new(body)).unwrap()
            }
            Err(error) => aws_error(
                StatusCode::BAD_GATEWAY,
                "ProxyError",
                &format!("moto did not answer: {error}"),
            ),
        }
    }
}

/// Makes hyper close the connection without an answer.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Reset {}

fn operation_of(parts: &hyper::http::request::Parts) -> String {
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let segment = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    format!("{} /{segment}", parts.method)
}

fn aws_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-errortype", code)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
