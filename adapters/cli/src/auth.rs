//! Who is calling, the way HashiCorp Vault's AWS IAM auth method decides it: the caller signs
//! an STS `GetCallerIdentity` with their own credentials, the gateway checks it locally
//! ([`crate::proof`]), remembers its nonce, forwards it to STS, and accepts the answer only when
//! it is an Identity Center role session in an allowed account of the organization whose
//! session name is a known user. The gateway never holds or sees the caller's secret key.

use std::collections::BTreeSet;

use actix_web::HttpRequest;
use liftgate_gateway::config::SessionNameAttribute;
use liftgate_gateway::domain::Person;
use liftgate_gateway::workflow::AccessService;
use liftgate_policy::Email;

use crate::error::CliError;
use crate::proof::{self, Expected, ProofError};
use crate::session::sso_session;
use crate::sts::{Sts, StsError};
use crate::wire::{MAX_CLOCK_SKEW_SECONDS, MAX_PROOF_BYTES, PROOF_HEADER, StsProof, call_digest};

/// How callers are checked: `cli` settings, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    pub sts: Sts,
    pub server_id: String,
    /// Empty: any account of the organization.
    pub allowed_accounts: BTreeSet<String>,
    pub attribute: SessionNameAttribute,
}

/// A caller STS vouched for, as the person the workflow knows.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCli {
    pub person: Person,
    pub arn: String,
}

fn proof_refused(error: &ProofError) -> CliError {
    CliError::unauthorized(error.code(), error.to_string())
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> CliError {
    CliError::Unavailable(format!("{what}: {error}"))
}

impl Authenticator {
    /// Checks the call's proof against its method, path and raw `body`.
    pub(crate) async fn authenticate(
        &self,
        service: &AccessService,
        request: &HttpRequest,
        body: &[u8],
    ) -> Result<VerifiedCli, CliError> {
        let proof = read_proof(request)?;
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path(), |value| value.as_str());
        let digest = call_digest(request.method().as_str(), path_and_query, body);
        let now = service.clock().now();
        let checked = proof::check(
            &proof,
            Expected {
                target: self.sts.target(),
                server_id: &self.server_id,
                call_digest: &digest,
                now,
            },
        )
        .map_err(|error| {
            tracing::warn!(reason = error.code(), "CLI call refused before STS.");
            proof_refused(&error)
        })?;

        // Remembered before STS is asked, so two replicas given the same proof at once cannot
        // both forward it; kept a little longer than a date can be accepted, either way.
        let remember_until = now + time::Duration::seconds(2 * MAX_CLOCK_SKEW_SECONDS + 60);
        let key = format!("cli-nonce:{}", checked.nonce);
        match service
            .store()
            .remember_once(&key, "seen", now, remember_until)
            .await
        {
            Ok(None) => {}
            Ok(Some(_)) => {
                tracing::warn!("CLI call refused: its nonce was already used.");
                return Err(CliError::unauthorized(
                    "replayed",
                    "this call was already received (its nonce was used); sign each call anew",
                ));
            }
            // Fail closed: without the memory a replay cannot be told from a new call.
            Err(error) => return Err(unavailable("the CLI nonce memory", error)),
        }

        let caller = match self.sts.caller_identity(&checked).await {
            Ok(caller) => caller,
            Err(StsError::Rejected { code }) => {
                tracing::warn!(sts_code = %code, "CLI call refused: STS rejected the signed request.");
                return Err(CliError::unauthorized(
                    "sts_rejected",
                    format!(
                        "STS did not accept the signed request ({code}); check your AWS credentials"
                    ),
                ));
            }
            Err(error @ StsError::Unavailable(_)) => return Err(unavailable("STS", error)),
        };

        let Some(session) = sso_session(&caller.arn).filter(|s| s.account_id == caller.account)
        else {
            tracing::warn!(arn = %caller.arn, "CLI call refused: not an Identity Center role session.");
            return Err(CliError::forbidden(
                "not_an_sso_session",
                format!(
                    "{} is not an IAM Identity Center role session (AWSReservedSSO_*); sign in with `aws sso login` and use that profile",
                    caller.arn
                ),
            ));
        };
        self.check_account(service, &session.account_id).await?;
        let email = self
            .user_of(service, &session.session_name)
            .await?
            .ok_or_else(|| {
                tracing::warn!(arn = %caller.arn, "CLI call refused: the session name is no Identity Center user.");
                CliError::forbidden(
                    "unknown_user",
                    format!(
                        "the role session name {:?} is not an Identity Center user Liftgate can request for",
                        session.session_name
                    ),
                )
            })?;
        tracing::info!(arn = %caller.arn, person = %email, "CLI caller verified.");
        Ok(VerifiedCli {
            person: Person::through_cli(email, &caller.arn, &caller.account),
            arn: caller.arn,
        })
    }

    /// The session's account must be in the organization, and in `allowed_accounts` when set:
    /// anyone can create a role called `AWSReservedSSO_…` in an account of their own.
    async fn check_account(
        &self,
        service: &AccessService,
        account_id: &str,
    ) -> Result<(), CliError> {
        let refused = || {
            tracing::warn!(
                account_id,
                "CLI call refused: the session's account is not allowed."
            );
            CliError::forbidden(
                "account_not_allowed",
                format!("role sessions in account {account_id} may not make requests here"),
            )
        };
        if !self.allowed_accounts.is_empty() && !self.allowed_accounts.contains(account_id) {
            return Err(refused());
        }
        match service.identity().describe_account(account_id).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(refused()),
            Err(error) => Err(unavailable("Organizations", error)),
        }
    }

    /// The person behind a session name, by `cli.user_attribute`. With `user_name` the user
    /// found by name must be the one the workflow finds by the address, so a request is never
    /// made for someone else.
    async fn user_of(
        &self,
        service: &AccessService,
        session_name: &str,
    ) -> Result<Option<Email>, CliError> {
        let identity = service.identity();
        match self.attribute {
            SessionNameAttribute::Email => {
                let Ok(email) = Email::parse(session_name) else {
                    return Ok(None);
                };
                match identity.find_user(&email).await {
                    Ok(Some(_)) => Ok(Some(email)),
                    Ok(None) => Ok(None),
                    Err(error) => Err(unavailable("Identity Center", error)),
                }
            }
            SessionNameAttribute::UserName => {
                let named = match identity.find_user_by_user_name(session_name).await {
                    Ok(Some(named)) => named,
                    Ok(None) => return Ok(None),
                    Err(error) => return Err(unavailable("Identity Center", error)),
                };
                let Some(email) = named.email else {
                    return Ok(None);
                };
                match identity.find_user(&email).await {
                    Ok(Some(user)) if user.user_id == named.user_id => Ok(Some(email)),
                    Ok(_) => {
                        tracing::warn!(user_id = %named.user_id, "CLI caller's address names another Identity Center user; refused.");
                        Ok(None)
                    }
                    Err(error) => Err(unavailable("Identity Center", error)),
                }
            }
        }
    }
}

fn read_proof(request: &HttpRequest) -> Result<StsProof, CliError> {
    let value = request.headers().get(PROOF_HEADER).ok_or_else(|| {
        CliError::unauthorized(
            "missing_proof",
            format!("the {PROOF_HEADER} header is missing; use `liftgate request`"),
        )
    })?;
    if value.len() > MAX_PROOF_BYTES {
        return Err(CliError::unauthorized(
            "malformed_proof",
            format!("the {PROOF_HEADER} header is longer than {MAX_PROOF_BYTES} bytes"),
        ));
    }
    value
        .to_str()
        .ok()
        .and_then(StsProof::decode)
        .ok_or_else(|| {
            CliError::unauthorized(
                "malformed_proof",
                format!("the {PROOF_HEADER} header is not base64 of a signed STS request"),
            )
        })
}
