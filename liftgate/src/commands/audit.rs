//! `liftgate audit verify | query | public-key` (docs/reference.md §1, §7): read-only views of
//! a sink's records, for operators and auditors. They need no config file (public-key reads
//! the signing key from one), only the directory or the S3 location and, for S3, the standard
//! AWS environment.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use liftgate_aws::{AwsClients, S3Location, S3Source};
use liftgate_gateway::audit::query::{self, Filters, OutputFormat};
use liftgate_gateway::audit::verify::{self, ChainObjects, VerifyOptions};
use liftgate_gateway::audit::{PublicKey, SigningKey, source};
use liftgate_gateway::config::LoadedConfig;

use crate::cli::{AuditQueryArgs, AuditSourceArgs, AuditVerifyArgs, QueryFormat};

enum Source {
    Directory(std::path::PathBuf),
    S3 {
        records: S3Location,
        checkpoints: S3Location,
    },
}

impl Source {
    fn from_args(args: &AuditSourceArgs) -> anyhow::Result<Source> {
        if args.source.starts_with("s3://") {
            let records = S3Location::parse(&args.source)?;
            let checkpoints = match &args.checkpoints {
                Some(location) => S3Location::parse(location)?,
                None => records.default_checkpoints(),
            };
            return Ok(Source::S3 {
                records,
                checkpoints,
            });
        }
        anyhow::ensure!(
            args.checkpoints.is_none(),
            "--checkpoints is for S3 sources; a directory keeps its checkpoints in DIR/checkpoints"
        );
        Ok(Source::Directory(args.source.clone().into()))
    }
}

async fn s3_source() -> S3Source {
    S3Source::new(AwsClients::from_environment().await.s3)
}

async fn read_chain(source: &Source) -> anyhow::Result<ChainObjects> {
    match source {
        Source::Directory(dir) => {
            let dir = dir.clone();
            Ok(tokio::task::spawn_blocking(move || source::read_directory(&dir)).await??)
        }
        Source::S3 {
            records,
            checkpoints,
        } => Ok(s3_source().await.read_chain(records, checkpoints).await?),
    }
}

/// Verifies; prints every finding and a summary. `Ok(true)` when everything holds.
///
/// # Errors
/// When the source cannot be read or an argument is malformed.
pub async fn verify(args: &AuditVerifyArgs, stdout: &mut dyn Write) -> anyhow::Result<bool> {
    let source = Source::from_args(&args.source)?;
    let public_key = match &args.public_key {
        Some(path) => Some(read_public_key(path)?),
        None => None,
    };
    let since = args.since.as_deref().map(query::parse_time).transpose()?;
    let (links, checkpoints) = read_chain(&source).await?;
    let options = VerifyOptions { public_key, since };
    let report =
        tokio::task::spawn_blocking(move || verify::verify(links, checkpoints, &options)).await?;
    for finding in &report.findings {
        writeln!(stdout, "FAIL {finding}")?;
    }
    let span = match (report.first_seq, report.last_seq) {
        (Some(first), Some(last)) => format!(" (seq {first}..={last})"),
        _ => String::new(),
    };
    let covered = report
        .checkpointed_seq
        .map_or_else(String::new, |seq| format!("; signed up to seq {seq}"));
    writeln!(
        stdout,
        "{} records{span} and {} checkpoints{covered}: {}",
        report.records,
        report.checkpoints,
        if report.is_clean() {
            "OK".to_owned()
        } else {
            format!("{} problems", report.findings.len())
        }
    )?;
    Ok(report.is_clean())
}

fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    PublicKey::from_pem(&text).with_context(|| format!("{}", path.display()))
}

/// Prints the public key of `audit.signing_key`.
///
/// # Errors
/// When no key is configured (or it is not one; check-config says so first).
pub fn public_key(loaded: &LoadedConfig, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let key = loaded
        .settings
        .audit
        .signing_key
        .as_ref()
        .context("audit.signing_key is not set (LIFTGATE__AUDIT__SIGNING_KEY)")?;
    let key = SigningKey::parse(key.expose()).context("audit.signing_key")?;
    write!(stdout, "{}", key.public_key().to_pem())?;
    Ok(())
}

/// Answers a query.
///
/// # Errors
/// When the source cannot be read or an argument is malformed.
pub async fn query(
    args: &AuditQueryArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let source = Source::from_args(&args.source)?;
    let time = |text: &Option<String>| text.as_deref().map(query::parse_time).transpose();
    let filters = Filters {
        requester: args.requester.clone(),
        approver: args.approver.clone(),
        account: args.account.clone(),
        permission_set: args.permission_set.clone(),
        group: args.group.clone(),
        event: args.event.clone(),
        channel: args.channel.clone(),
        since: time(&args.since)?,
        until: time(&args.until)?,
    };
    let window = match args.active_between.as_deref() {
        Some([from, until]) => Some((query::parse_time(from)?, query::parse_time(until)?)),
        Some(_) => anyhow::bail!("--active-between takes two times"),
        None => None,
    };
    let bodies = match &source {
        Source::Directory(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || source::read_record_bodies(&dir)).await??
        }
        Source::S3 {
            records,
            checkpoints,
        } => s3_source().await.read_bodies(records, checkpoints).await?,
    };
    let mut records = Vec::with_capacity(bodies.len());
    for (name, body) in bodies {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(record) if record.is_object() => records.push(record),
            _ => writeln!(stderr, "warning: {name} is not an audit record; skipped")?,
        }
    }
    let format = match args.format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Json => OutputFormat::JsonLines,
        QueryFormat::Csv => OutputFormat::Csv,
    };
    match window {
        Some((from, until)) => {
            anyhow::ensure!(from < until, "--active-between: T1 must be before T2");
            let spans = query::active_between(&records, &filters, from, until);
            query::write_spans(stdout, format, &spans)?;
        }
        None => {
            let selected = query::select(records, &filters);
            query::write_records(stdout, format, &selected)?;
        }
    }
    Ok(())
}
