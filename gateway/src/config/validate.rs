//! Checks that need more than one key, or knowledge beyond a type: which backend needs which
//! settings, well-formed ARNs and URLs, durations within the maximum.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use liftgate_policy::{Duration, Email, Problem, Rules};

use super::settings::{AuditSinkKind, CliSettings, SchedulerBackend, Settings, StateBackend};

fn push(list: &mut Vec<Problem>, path: impl Into<String>, message: impl Into<String>) {
    list.push(Problem {
        path: path.into(),
        message: message.into(),
    });
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

fn is_loopback_url(text: &str) -> bool {
    let rest = text.strip_prefix("http://").unwrap_or(text);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The `cli` section (docs/reference.md §2): where signed requests go and what callers sign.
fn check_cli(cli: &CliSettings, aws_region: Option<&str>, errors: &mut Vec<Problem>) {
    let Some(aws_region) = aws_region else {
        push(
            errors,
            "cli",
            "needs the aws section: callers are checked against the organization's accounts and Identity Center users",
        );
        return;
    };
    let region = cli.effective_sts_region(aws_region);
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        push(
            errors,
            "cli.sts_region",
            format!("{region:?} is not a region like us-east-1"),
        );
    }
    let endpoint = cli.effective_sts_endpoint(aws_region);
    match crate::http::check_outbound_url(&endpoint) {
        Err(error) => push(errors, "cli.sts_endpoint", format!("{endpoint:?} {error}")),
        Ok(url) => {
            if url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some()
                || url.path() != "/"
            {
                push(
                    errors,
                    "cli.sts_endpoint",
                    format!(
                        "{endpoint:?} must be a bare scheme, host and port, like https://sts.us-east-1.amazonaws.com"
                    ),
                );
            }
        }
    }
    let server_id = cli.server_id.trim();
    if server_id.is_empty() {
        push(
            errors,
            "cli.server_id",
            "must be set: callers sign it, which binds their signature to this gateway (usually its public host name)",
        );
    } else if server_id.len() > 255 || !server_id.bytes().all(|b| b.is_ascii_graphic()) {
        push(
            errors,
            "cli.server_id",
            "must be 1 to 255 visible ASCII characters, without spaces",
        );
    }
    for (index, account) in cli.allowed_accounts.iter().enumerate() {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            push(
                errors,
                format!("cli.allowed_accounts[{index}]"),
                format!("{account:?} is not a 12-digit account id (quote ids with leading zeros)"),
            );
        }
    }
}

pub(super) fn check(
    settings: &Settings,
    rules: &Rules,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    if settings.server.listen.parse::<SocketAddr>().is_err() {
        push(
            errors,
            "server.listen",
            format!(
                "{:?} is not an address like 0.0.0.0:8080",
                settings.server.listen
            ),
        );
    }
    if let Some(admin) = &settings.server.admin_listen {
        match admin.parse::<SocketAddr>() {
            Err(_) => push(
                errors,
                "server.admin_listen",
                format!("{admin:?} is not an address like 0.0.0.0:9090"),
            ),
            Ok(address) if settings.server.listen.parse::<SocketAddr>().ok() == Some(address) => {
                push(
                    errors,
                    "server.admin_listen",
                    "must differ from server.listen: health and metrics get a listener of their own",
                );
            }
            Ok(_) => {}
        }
    }
    let limits = settings.server.max_in_flight;
    for (key, limit) in [
        ("server.max_in_flight.chat", limits.chat),
        ("server.max_in_flight.api", limits.api),
        ("server.max_in_flight.admin", limits.admin),
    ] {
        if limit == 0 {
            push(errors, key, "must be at least 1");
        }
    }
    if let Some(url) = &settings.server.public_url
        && !is_http_url(url)
    {
        push(
            errors,
            "server.public_url",
            format!("{url:?} is not an http(s) URL"),
        );
    }

    if let Some(aws) = &settings.aws {
        if aws.region.trim().is_empty() {
            push(errors, "aws.region", "must not be empty");
        }
        let arn_ok = aws.sso_instance_arn.starts_with("arn:aws")
            && aws.sso_instance_arn.contains(":sso:::instance/");
        if !arn_ok {
            push(
                errors,
                "aws.sso_instance_arn",
                format!(
                    "{:?} is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)",
                    aws.sso_instance_arn
                ),
            );
        }
        let store_ok = aws.identity_store_id.starts_with("d-")
            && aws.identity_store_id.len() > 2
            && aws.identity_store_id[2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric());
        if !store_ok {
            push(
                errors,
                "aws.identity_store_id",
                format!(
                    "{:?} is not an identity store id (d-…)",
                    aws.identity_store_id
                ),
            );
        }
        if let Some(url) = &aws.endpoint_url
            && !is_http_url(url)
        {
            push(
                errors,
                "aws.endpoint_url",
                format!("{url:?} is not an http(s) URL"),
            );
        }
        for (index, domain) in aws.fallback_email_domains.iter().enumerate() {
            let bare = domain.trim_start_matches('@');
            if bare.is_empty()
                || !bare.contains('.')
                || bare.contains('@')
                || bare.contains(char::is_whitespace)
            {
                push(
                    errors,
                    format!("aws.fallback_email_domains[{index}]"),
                    format!("{domain:?} is not a domain like @example.com"),
                );
            }
        }
        if !aws.fallback_email_domains.is_empty() {
            push(
                warnings,
                "aws.fallback_email_domains",
                "fallback domains can match the wrong person; every use is flagged in chat and in the audit log",
            );
        }
    }

    match settings.state.backend {
        StateBackend::Sqlite if settings.state.path.trim().is_empty() => {
            push(errors, "state.path", "the sqlite backend needs a file path");
        }
        StateBackend::Dynamodb
            if settings
                .state
                .table
                .as_deref()
                .is_none_or(|t| t.trim().is_empty()) =>
        {
            push(
                errors,
                "state.table",
                "the dynamodb backend needs a table name",
            );
        }
        _ => {}
    }
    if settings.state.backend == StateBackend::Dynamodb && settings.aws.is_none() {
        push(
            errors,
            "aws",
            "the dynamodb state backend needs the aws section",
        );
    }

    if settings.scheduler.backend == SchedulerBackend::Eventbridge {
        if settings
            .scheduler
            .role_arn
            .as_deref()
            .is_none_or(|arn| !arn.starts_with("arn:aws"))
        {
            push(
                errors,
                "scheduler.role_arn",
                "the eventbridge scheduler needs the ARN of the role its schedules assume",
            );
        }
        if settings.aws.is_none() {
            push(
                errors,
                "aws",
                "the eventbridge scheduler needs the aws section",
            );
        }
    }
    let group = &settings.scheduler.group_name;
    if group.is_empty()
        || group.len() > 64
        || !group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        push(
            errors,
            "scheduler.group_name",
            format!("{group:?} is not a schedule group name (1-64 of A-Z a-z 0-9 - _ .)"),
        );
    }

    if settings.audit.sinks.is_empty() {
        push(
            errors,
            "audit.sinks",
            "at least one audit sink is required: every step must be recorded",
        );
    }
    for (index, sink) in settings.audit.sinks.iter().enumerate() {
        match sink.kind {
            AuditSinkKind::File if sink.dir.as_deref().is_none_or(|d| d.trim().is_empty()) => {
                push(
                    errors,
                    format!("audit.sinks[{index}].dir"),
                    "a file sink needs a directory",
                );
            }
            AuditSinkKind::S3 if sink.bucket.as_deref().is_none_or(|b| b.trim().is_empty()) => {
                push(
                    errors,
                    format!("audit.sinks[{index}].bucket"),
                    "an s3 sink needs a bucket",
                );
            }
            AuditSinkKind::S3 if settings.aws.is_none() => {
                push(errors, "aws", "the s3 audit sink needs the aws section");
            }
            _ => {}
        }
        let trimmed = |prefix: Option<&str>, default: &str| {
            prefix
                .unwrap_or(default)
                .trim()
                .trim_matches('/')
                .to_owned()
        };
        let records = trimmed(sink.prefix.as_deref(), "logs");
        let checkpoints = trimmed(sink.checkpoint_prefix.as_deref(), "checkpoints");
        if sink.kind == AuditSinkKind::S3
            && !records.is_empty()
            && (checkpoints == records || checkpoints.starts_with(&format!("{records}/")))
        {
            push(
                errors,
                format!("audit.sinks[{index}].checkpoint_prefix"),
                "must lie beside the records' prefix, not under it (an Athena table over the records would read the checkpoints)",
            );
        }
    }
    // docs/reference.md §7: the chain needs no key; the checkpoints that vouch for its tail do.
    match &settings.audit.signing_key {
        Some(key) => {
            if let Err(error) = crate::audit::SigningKey::parse(key.expose()) {
                push(
                    errors,
                    "audit.signing_key",
                    format!("not a usable Ed25519 private key: {error}"),
                );
            }
        }
        None => push(
            warnings,
            "audit.signing_key",
            "not set: audit records are hash-chained but no signed checkpoints are written, so a truncated tail goes unnoticed",
        ),
    }
    if settings.audit.checkpoint_interval.as_secs() == 0 {
        push(errors, "audit.checkpoint_interval", "must be at least 1s");
    }

    super::activity::check(&settings.audit.activity_summary, errors);
    if settings.audit.activity_summary.is_enabled() && settings.aws.is_none() {
        push(
            errors,
            "aws",
            "activity summaries (audit.activity_summary) need the aws section",
        );
    }

    if let Some(slack) = &settings.slack {
        if slack.channel_id.trim().is_empty() {
            push(
                errors,
                "slack.channel_id",
                "must name the channel approval messages go to",
            );
        }
        if slack.signing_secret.is_empty() {
            push(errors, "slack.signing_secret", "must not be empty");
        }
        if slack.bot_token.is_empty() {
            push(errors, "slack.bot_token", "must not be empty");
        } else if !slack.bot_token.expose().starts_with("xoxb-") {
            push(
                warnings,
                "slack.bot_token",
                "a bot token usually starts with xoxb-",
            );
        }
        if slack.socket_mode
            && slack
                .app_token
                .as_ref()
                .is_none_or(|token| token.is_empty())
        {
            push(
                errors,
                "slack.app_token",
                "socket mode needs an app-level token (xapp-…)",
            );
        }
        if !is_http_url(&slack.api_base_url) {
            push(
                errors,
                "slack.api_base_url",
                format!("{:?} is not an http(s) URL", slack.api_base_url),
            );
        }
        if slack.form_sessions == 0 {
            push(
                errors,
                "slack.form_sessions",
                "must be at least 1 (the open forms whose choices are kept)",
            );
        }
        if slack.form_session_ttl > Duration::from_hours(24) {
            push(
                errors,
                "slack.form_session_ttl",
                format!("{} is longer than a day", slack.form_session_ttl),
            );
        }
    }

    if let Some(teams) = &settings.teams {
        for (key, value) in [
            ("teams.app_id", &teams.app_id),
            ("teams.tenant_id", &teams.tenant_id),
            (
                "teams.approvals_conversation_id",
                &teams.approvals_conversation_id,
            ),
        ] {
            if value.trim().is_empty() {
                push(errors, key, "must not be empty");
            }
        }
        if teams.app_password.is_empty() {
            push(errors, "teams.app_password", "must not be empty");
        }
        for (key, value) in [
            ("teams.service_url", Some(&teams.service_url)),
            (
                "teams.openid_metadata_url",
                Some(&teams.openid_metadata_url),
            ),
            ("teams.token_url", teams.token_url.as_ref()),
        ] {
            if let Some(value) = value
                && !is_http_url(value)
            {
                push(errors, key, format!("{value:?} is not an http(s) URL"));
            }
        }
        // Bot Framework keys and tokens must come over TLS; plain http only reaches a local fake.
        for (key, value) in [
            (
                "teams.openid_metadata_url",
                Some(&teams.openid_metadata_url),
            ),
            ("teams.token_url", teams.token_url.as_ref()),
        ] {
            if let Some(value) = value
                && is_http_url(value)
                && !value.starts_with("https://")
                && !is_loopback_url(value)
            {
                push(
                    errors,
                    key,
                    format!("{value:?} must be https (plain http only to 127.0.0.1 or localhost)"),
                );
            }
        }
        if teams.allowed_service_url_hosts.is_empty() {
            push(
                errors,
                "teams.allowed_service_url_hosts",
                "must list at least one host",
            );
        }
    }

    if let Some(webhook) = &settings.webhook {
        let mut ids = BTreeSet::new();
        for (index, client) in webhook.clients.iter().enumerate() {
            let path = format!("webhook.clients[{index}]");
            if client.id.trim().is_empty() {
                push(errors, format!("{path}.id"), "must not be empty");
            } else if !ids.insert(client.id.clone()) {
                push(
                    errors,
                    format!("{path}.id"),
                    format!("{:?} is used by another client", client.id),
                );
            }
            if client.secret.is_empty() {
                push(errors, format!("{path}.secret"), "must not be empty");
            } else if client.secret.expose().len() < 32 {
                push(
                    warnings,
                    format!("{path}.secret"),
                    "is short: use at least 32 random characters",
                );
            }
            if client.act_for.is_empty() {
                push(
                    warnings,
                    format!("{path}.act_for"),
                    "is empty: this client cannot act for anyone",
                );
            }
            for (item, entry) in client.act_for.iter().enumerate() {
                if entry != "*" && Email::parse(entry).is_err() {
                    push(
                        errors,
                        format!("{path}.act_for[{item}]"),
                        format!("{entry:?} is not an email or \"*\""),
                    );
                }
            }
        }
        for (index, subscriber) in webhook.subscribers.iter().enumerate() {
            if !is_http_url(&subscriber.url) {
                push(
                    errors,
                    format!("webhook.subscribers[{index}].url"),
                    format!("{:?} is not an http(s) URL", subscriber.url),
                );
            }
            if subscriber.secret.is_empty() {
                push(
                    errors,
                    format!("webhook.subscribers[{index}].secret"),
                    "must not be empty",
                );
            }
            for (item, event) in subscriber.events.iter().enumerate() {
                let value = serde_json::Value::from(event.as_str());
                if serde_json::from_value::<crate::domain::RequestEvent>(value).is_err() {
                    push(
                        errors,
                        format!("webhook.subscribers[{index}].events[{item}]"),
                        format!(
                            "{event:?} is not an event (requested, approved, denied, granted, \
                             revoked, expired, cancelled, failed, drift_detected, extended)"
                        ),
                    );
                }
            }
        }
    }

    if let Some(cli) = &settings.cli {
        check_cli(
            cli,
            settings.aws.as_ref().map(|aws| aws.region.as_str()),
            errors,
        );
    }

    let requests = &settings.requests;
    if requests.durations.is_empty() {
        push(
            errors,
            "requests.durations",
            "must offer at least one duration",
        );
    }
    for (index, duration) in requests.durations.iter().enumerate() {
        if *duration > requests.max_duration {
            push(
                warnings,
                format!("requests.durations[{index}]"),
                format!(
                    "{duration} is longer than requests.max_duration ({}) and will not be offered",
                    requests.max_duration
                ),
            );
        }
    }
    if requests.reminder_backoff < 1.0 || requests.reminder_backoff > 100.0 {
        push(
            errors,
            "requests.reminder_backoff",
            "must be between 1 and 100",
        );
    }
    if requests.max_comment_length == 0 {
        push(errors, "requests.max_comment_length", "must be at least 1");
    }
    if requests.max_reason_length == 0 {
        push(errors, "requests.max_reason_length", "must be at least 1");
    }

    let reconciliation = &settings.reconciliation;
    if reconciliation.max_calls_per_second == 0 {
        push(
            errors,
            "reconciliation.max_calls_per_second",
            "must be at least 1",
        );
    } else if reconciliation.max_calls_per_second > 20 {
        push(
            warnings,
            "reconciliation.max_calls_per_second",
            "Identity Center allows about 20 calls per second in all; more will be throttled",
        );
    }

    let cli_enabled = settings.cli.as_ref().is_some_and(|cli| cli.enabled);
    if settings.slack.is_none()
        && settings.teams.is_none()
        && settings.webhook.is_none()
        && !cli_enabled
    {
        push(
            warnings,
            "",
            "no slack, teams, webhook or cli section: nobody can make a request",
        );
    }
    if rules.statements.is_empty() && rules.group_statements.is_empty() {
        push(
            warnings,
            "statements",
            "there are no statements: every request will be refused",
        );
    }
}
