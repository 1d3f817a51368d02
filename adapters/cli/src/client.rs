//! The terminal side: what `liftgate request` runs. It asks the gateway where to sign for
//! (`GET /cli/v1/sts`), signs an STS `GetCallerIdentity` with the caller's own credentials
//! (SigV4, `aws-sigv4`), covering the gateway's server id, a new nonce and the digest of the
//! call, and sends the call with that proof. The secret key never leaves the machine; the
//! gateway only forwards the signed request to STS.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use liftgate_gateway::ports::{Clock, SystemClock};
use serde::{Deserialize, Serialize};

use crate::routes::VERIFIED_ARN_HEADER;
use crate::wire::{
    CALL_HEADER, FORM_CONTENT_TYPE, GET_CALLER_IDENTITY_BODY, NONCE_HEADER, PROOF_HEADER,
    SERVER_ID_HEADER, StsProof, authority, call_digest,
};

/// Why a call could not be made (a refusal by the gateway is a [`Reply`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0} is not a gateway URL (expected https://HOST or http://localhost:PORT)")]
    BadUrl(String),
    #[error("cannot reach the gateway: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the gateway's CLI routes are not available: {0}")]
    Discovery(String),
    #[error("cannot sign the STS request: {0}")]
    Signing(String),
}

/// Where to sign for, as the gateway tells it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StsSigningTarget {
    pub sts_endpoint: String,
    pub sts_region: String,
}

/// The server id the CLI signs unless told otherwise: the authority (`host[:port]`) of the
/// gateway URL the person typed, so a gateway at another address cannot pass the proof on.
pub fn default_server_id(gateway: &url::Url) -> Option<String> {
    authority(gateway).map(|authority| authority.to_ascii_lowercase())
}

/// Signs `GetCallerIdentity` for `target` with `credentials` at `at`, covering the server id,
/// `nonce` and `call_digest` as headers. This is the proof a call carries in
/// [`PROOF_HEADER`].
///
/// # Errors
/// When the endpoint is not a URL or SigV4 signing fails.
pub fn sign_proof(
    credentials: &Credentials,
    target: &StsSigningTarget,
    server_id: &str,
    nonce: &str,
    call_digest: &str,
    at: SystemTime,
) -> Result<StsProof, ClientError> {
    let endpoint = url::Url::parse(&target.sts_endpoint)
        .map_err(|_| ClientError::Signing(format!("{:?} is not a URL", target.sts_endpoint)))?;
    let host = authority(&endpoint)
        .ok_or_else(|| ClientError::Signing("the STS endpoint has no host".to_owned()))?;
    let headers: [(&str, &str); 5] = [
        ("host", &host),
        ("content-type", FORM_CONTENT_TYPE),
        (SERVER_ID_HEADER, server_id),
        (NONCE_HEADER, nonce),
        (CALL_HEADER, call_digest),
    ];
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&target.sts_region)
        .name("sts")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| ClientError::Signing(error.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        endpoint.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(GET_CALLER_IDENTITY_BODY.as_bytes()),
    )
    .map_err(|error| ClientError::Signing(error.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| ClientError::Signing(error.to_string()))?
        .into_parts();
    let mut sent: std::collections::BTreeMap<String, String> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    for (name, value) in instructions.headers() {
        sent.insert(name.to_owned(), value.to_owned());
    }
    Ok(StsProof {
        method: "POST".to_owned(),
        url: endpoint.to_string(),
        headers: sent,
        body: STANDARD.encode(GET_CALLER_IDENTITY_BODY),
    })
}

/// What to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RequestTarget {
    Account {
        account_id: String,
        permission_set: String,
    },
    Group {
        group_id: String,
    },
}

/// `POST /cli/v1/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub target: RequestTarget,
    pub duration: String,
    pub reason: String,
    /// Break the glass: access now, reviewed afterwards (only where a `BreakGlass` rule admits
    /// the caller).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// A call ready to send: its proof covers exactly this method, path and body.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Vec<u8>,
    pub proof: StsProof,
}

/// The gateway's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: serde_json::Value,
    /// The role session the gateway verified, on accepted calls.
    pub verified_arn: Option<String>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The refusal's code, if the answer is one.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// A gateway's CLI routes, called with one person's credentials.
#[derive(Debug, Clone)]
pub struct CliClient {
    http: reqwest::Client,
    base: url::Url,
    server_id: String,
    credentials: Credentials,
    target: StsSigningTarget,
    clock: Arc<dyn Clock>,
}

impl CliClient {
    /// Asks the gateway at `base` where to sign for. `server_id` defaults to
    /// [`default_server_id`].
    ///
    /// # Errors
    /// When the URL is not usable or the gateway has no CLI routes.
    pub async fn connect(
        base: &str,
        server_id: Option<String>,
        credentials: Credentials,
    ) -> Result<CliClient, ClientError> {
        let base = url::Url::parse(base.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some())
            .ok_or_else(|| ClientError::BadUrl(base.to_owned()))?;
        let server_id = match server_id {
            Some(id) => id,
            None => {
                default_server_id(&base).ok_or_else(|| ClientError::BadUrl(base.to_string()))?
            }
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        let discovery = base
            .join("/cli/v1/sts")
            .map_err(|_| ClientError::BadUrl(base.to_string()))?;
        let response = http.get(discovery).send().await?;
        if !response.status().is_success() {
            return Err(ClientError::Discovery(format!(
                "GET /cli/v1/sts answered {} (is the cli section enabled?)",
                response.status()
            )));
        }
        let target: StsSigningTarget = response
            .json()
            .await
            .map_err(|error| ClientError::Discovery(error.to_string()))?;
        Ok(CliClient {
            http,
            base,
            server_id,
            credentials,
            target,
            clock: Arc::new(SystemClock),
        })
    }

    /// Signs with another clock's time (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> CliClient {
        self.clock = clock;
        self
    }

    pub fn sts_target(&self) -> &StsSigningTarget {
        &self.target
    }

    /// Signs a call at the clock's now with a new nonce.
    ///
    /// # Errors
    /// See [`sign_proof`].
    pub fn prepare(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<PreparedCall, ClientError> {
        let digest = call_digest(method.as_str(), path, &body);
        let proof = sign_proof(
            &self.credentials,
            &self.target,
            &self.server_id,
            &liftgate_webhook::new_nonce(),
            &digest,
            SystemTime::from(self.clock.now()),
        )?;
        Ok(PreparedCall {
            method,
            path: path.to_owned(),
            body,
            proof,
        })
    }

    /// Sends a prepared call.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn send(&self, call: &PreparedCall) -> Result<Reply, ClientError> {
        let url = self
            .base
            .join(&call.path)
            .map_err(|_| ClientError::BadUrl(call.path.clone()))?;
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(PROOF_HEADER, call.proof.encode());
        if !call.body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(call.body.clone());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let verified_arn = response
            .headers()
            .get(VERIFIED_ARN_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(Reply {
            status,
            body,
            verified_arn,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Reply, ClientError> {
        let call = self.prepare(method, path, body)?;
        self.send(&call).await
    }

    /// `POST /cli/v1/requests`.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn create(&self, request: &CreateRequest) -> Result<Reply, ClientError> {
        let body = serde_json::to_vec(request).unwrap_or_default();
        self.call(reqwest::Method::POST, "/cli/v1/requests", body)
            .await
    }

    /// `GET /cli/v1/requests/{id}`.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn status(&self, id: &str) -> Result<Reply, ClientError> {
        self.call(reqwest::Method::GET, &request_path(id, ""), Vec::new())
            .await
    }

    /// `POST /cli/v1/requests/{id}/revoke`.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn revoke(&self, id: &str) -> Result<Reply, ClientError> {
        self.call(
            reqwest::Method::POST,
            &request_path(id, "/revoke"),
            Vec::new(),
        )
        .await
    }

    /// `POST /cli/v1/requests/{id}/cancel`.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn cancel(&self, id: &str) -> Result<Reply, ClientError> {
        self.call(
            reqwest::Method::POST,
            &request_path(id, "/cancel"),
            Vec::new(),
        )
        .await
    }
}

/// The path of a request, with the id percent-encoded so it stays one segment.
fn request_path(id: &str, action: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/cli/v1/requests/{id}{action}")
}
