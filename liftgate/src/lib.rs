//! The `liftgate` binary's library: the command line and the composition root that wires the
//! backends (SQLite or DynamoDB, local or EventBridge timers, file and S3 audit) and the
//! channels (webhook API, Slack, Teams, the CLI routes) into the gateway.

pub mod cli;
pub mod commands;
pub mod compose;
mod memory;

use std::io::Write;
use std::process::ExitCode;

use liftgate_gateway::config::ConfigSource;

use crate::cli::{AuditCommand, Cli, Command, MigrateCommand, PolicyCommand, StateCommand};

/// Runs one command. `Ok` carries the exit code; `Err` is printed as one sentence, exit 1.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr();
    match cli.command {
        Command::CheckConfig(args) => {
            let source = ConfigSource::from_process(args.config.config.as_deref());
            let valid = if args.aws {
                runtime()?.block_on(commands::check_config::run_with_aws(
                    &source, stdout, stderr,
                ))?
            } else {
                commands::check_config::run(&source, stdout, stderr)?
            };
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Policy {
            command: PolicyCommand::Explain(args),
        } => {
            let source = ConfigSource::from_process(args.config.config.as_deref());
            match commands::explain::run(&args, &source, stdout) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    writeln!(stderr, "error: {error}")?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Serve(arg) => {
            let loaded = load_or_report(arg.config.as_deref(), stderr)?;
            let Some(loaded) = loaded else {
                return Ok(ExitCode::FAILURE);
            };
            liftgate_gateway::telemetry::init(loaded.settings.server.log_format);
            runtime()?.block_on(commands::serve::run(loaded))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::State {
            command: StateCommand::Init(arg),
        } => {
            let Some(loaded) = load_or_report(arg.config.as_deref(), stderr)? else {
                return Ok(ExitCode::FAILURE);
            };
            runtime()?.block_on(commands::state::init(&loaded, stdout))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            commands::init::run(&args.output, args.force, stdout, stderr)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate {
            command: MigrateCommand::SsoElevator(args),
        } => {
            let inputs = commands::migrate::sso_elevator::Inputs {
                tfvars: args.tfvars,
                approval_config: args.approval_config,
                region: args.region,
                identity_store_id: args.identity_store_id,
            };
            commands::migrate::sso_elevator::run(
                &inputs,
                &args.output,
                args.force,
                stdout,
                stderr,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify(args) => {
                let clean = runtime()?.block_on(commands::audit::verify(&args, stdout))?;
                Ok(if clean {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            AuditCommand::Query(args) => {
                runtime()?.block_on(commands::audit::query(&args, stdout, stderr))?;
                Ok(ExitCode::SUCCESS)
            }
            AuditCommand::PublicKey(arg) => {
                let Some(loaded) = load_or_report(arg.config.as_deref(), stderr)? else {
                    return Ok(ExitCode::FAILURE);
                };
                commands::audit::public_key(&loaded, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Request(args) => {
            let action = commands::request::Action::from_args(args.command, args.create)?;
            let accepted = runtime()?.block_on(commands::request::run(
                &args.gateway,
                &action,
                stdout,
                stderr,
            ))?;
            Ok(if accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Reconcile(args) => {
            let Some(loaded) = load_or_report(args.config.config.as_deref(), stderr)? else {
                return Ok(ExitCode::FAILURE);
            };
            liftgate_gateway::telemetry::init(liftgate_gateway::config::LogFormat::Text);
            let clean =
                runtime()?.block_on(commands::reconcile::run(&loaded, args.dry_run, stdout))?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Loads the config; on errors prints them (one per line) and returns `None`.
fn load_or_report(
    flag: Option<&std::path::Path>,
    stderr: &mut dyn Write,
) -> anyhow::Result<Option<liftgate_gateway::config::LoadedConfig>> {
    let source = ConfigSource::from_process(flag);
    match liftgate_gateway::config::load(&source) {
        Ok(loaded) => Ok(Some(loaded)),
        Err(invalid) => {
            for error in &invalid.errors {
                writeln!(stderr, "error: {error}")?;
            }
            writeln!(
                stderr,
                "{} is not valid; run liftgate check-config for details",
                source.path.display()
            )?;
            Ok(None)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
