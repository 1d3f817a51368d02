//! `liftgate request` (docs/reference.md §1, §5 CLI routes): loads the caller's AWS
//! credentials through the SDK's default chain (environment, profile, SSO), signs each call
//! with them through [`liftgate_cli_channel::client`], and prints what the gateway answered.

use std::io::Write;

use anyhow::Context;
use aws_credential_types::provider::ProvideCredentials;
use liftgate_cli_channel::client::{CliClient, CreateRequest, Reply, RequestTarget};
use serde_json::Value;

use crate::cli::{CreateArgs, GatewayArgs, RequestCommand};

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    Create(CreateRequest),
    Status(String),
    Revoke(String),
    Cancel(String),
}

impl Action {
    /// The action the command line names.
    ///
    /// # Errors
    /// When a create lacks its target, duration or reason.
    pub fn from_args(
        command: Option<RequestCommand>,
        create: CreateArgs,
    ) -> anyhow::Result<Action> {
        Ok(match command {
            Some(RequestCommand::Status { id }) => Action::Status(id),
            Some(RequestCommand::Revoke { id }) => Action::Revoke(id),
            Some(RequestCommand::Cancel { id }) => Action::Cancel(id),
            None => {
                let target = match (create.account, create.permission_set, create.group) {
                    (Some(account_id), Some(permission_set), None) => RequestTarget::Account {
                        account_id,
                        permission_set,
                    },
                    (None, None, Some(group_id)) => RequestTarget::Group { group_id },
                    _ => anyhow::bail!(
                        "name what you need: --account ID --permission-set NAME, or --group ID"
                    ),
                };
                CreateRequest {
                    target,
                    duration: create
                        .duration
                        .context("--duration is required (e.g. 1h)")?,
                    reason: create.reason.context("--reason is required")?,
                    break_glass: create.break_glass,
                }
                .into()
            }
        })
    }
}

impl From<CreateRequest> for Action {
    fn from(request: CreateRequest) -> Action {
        Action::Create(request)
    }
}

/// Loads the credentials and makes the call. `Ok(true)` when the gateway accepted it.
///
/// # Errors
/// When no credentials can be loaded or the gateway cannot be reached.
pub async fn run(
    gateway: &GatewayArgs,
    action: &Action,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<bool> {
    let url = gateway
        .url
        .as_deref()
        .context("--url is required (the gateway's address, e.g. https://liftgate.example.com)")?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(profile) = &gateway.profile {
        loader = loader.profile_name(profile);
    }
    let config = loader.load().await;
    let provider = config
        .credentials_provider()
        .context("no AWS credentials are configured; sign in with `aws sso login`")?;
    let credentials = provider.provide_credentials().await.context(
        "cannot load your AWS credentials (is your SSO session current? try `aws sso login`)",
    )?;
    let client = CliClient::connect(url, gateway.server_id.clone(), credentials).await?;
    let reply = match action {
        Action::Create(request) => client.create(request).await?,
        Action::Status(id) => client.status(id).await?,
        Action::Revoke(id) => client.revoke(id).await?,
        Action::Cancel(id) => client.cancel(id).await?,
    };
    report(&reply, gateway.json, stdout, stderr)?;
    Ok(reply.is_success())
}

/// Prints an accepted answer to stdout (a summary, or the JSON) and a refusal to stderr.
///
/// # Errors
/// When the output cannot be written.
pub fn report(
    reply: &Reply,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::io::Result<()> {
    if !reply.is_success() {
        let code = reply.error_code().unwrap_or("error");
        let message = reply.body["error"]["message"]
            .as_str()
            .unwrap_or("the gateway gave no reason");
        return writeln!(stderr, "refused ({} {code}): {message}", reply.status);
    }
    if json {
        return writeln!(stdout, "{}", reply.body);
    }
    writeln!(stdout, "{}", summary(&reply.body))?;
    if let Some(arn) = &reply.verified_arn {
        writeln!(stdout, "Signed as {arn}.")?;
    }
    Ok(())
}

fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key].as_str().unwrap_or("?")
}

/// One paragraph a person reads: what, its status, and what happens next.
fn summary(body: &Value) -> String {
    let target = match body["group_id"].as_str() {
        Some(group) => format!(
            "membership of {}",
            body["group_name"].as_str().unwrap_or(group)
        ),
        None => format!(
            "{} on {} ({})",
            text(body, "permission_set"),
            text(body, "account_id"),
            body["account_name"].as_str().unwrap_or("?")
        ),
    };
    let status = text(body, "status");
    let mut lines = vec![format!(
        "Request {} is {status}: {target} for {}.",
        text(body, "id"),
        text(body, "duration")
    )];
    match status {
        "pending" => {
            let approvers: Vec<&str> = body["approvers"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            lines.push(format!(
                "Waiting for {} approval(s) from: {}.",
                body["required_approvals"].as_u64().unwrap_or(1),
                approvers.join(", ")
            ));
        }
        "active" | "approved" => {
            if body["revocation"].is_object() {
                lines.push("Ending: the access is being removed.".to_owned());
            } else if let Some(ends_at) = body["ends_at"].as_str() {
                lines.push(format!("Access until {ends_at}."));
            }
        }
        _ => {
            if let Some(reason) = body["status_reason"].as_str() {
                lines.push(format!("Reason: {reason}."));
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pending_request_says_who_must_approve() {
        let body = json!({"id": "r-1", "status": "pending", "permission_set": "Admin",
            "account_id": "111111111111", "account_name": "Prod", "duration": "1h",
            "approvers": ["alice@corp.com", "bob@corp.com"], "required_approvals": 1});
        assert_eq!(
            summary(&body),
            "Request r-1 is pending: Admin on 111111111111 (Prod) for 1h.\nWaiting for 1 approval(s) from: alice@corp.com, bob@corp.com."
        );
    }

    #[test]
    fn a_refusal_goes_to_stderr_with_its_code() {
        let reply = Reply {
            status: 403,
            body: json!({"error": {"code": "not_an_sso_session", "message": "not a session"}}),
            verified_arn: None,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        report(&reply, false, &mut out, &mut err).unwrap();
        assert!(out.is_empty());
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "refused (403 not_an_sso_session): not a session\n"
        );
    }
}
