//! Forwarding a checked proof to the configured STS endpoint, and reading its answer. The URL
//! is always the configured one, never the client's; redirects are not followed; the answer is
//! read up to a bound.

use std::time::Duration;

use aws_smithy_xml::decode::{Document, XmlDecodeError, try_data};

use crate::proof::{CheckedProof, StsTarget};
use crate::session::CallerIdentity;

/// STS answers with a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why STS gave no caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StsError {
    /// STS refused the signed request (a bad or expired signature, unknown credentials): 401.
    #[error("STS refused the signed request ({code})")]
    Rejected { code: String },
    /// STS could not be asked, or answered with something other than a caller: 503.
    #[error("STS is unavailable: {0}")]
    Unavailable(String),
}

/// The configured STS endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Sts {
    http: reqwest::Client,
    target: StsTarget,
}

impl Sts {
    pub(crate) fn new(target: StsTarget) -> Result<Sts, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Sts { http, target })
    }

    pub(crate) fn target(&self) -> &StsTarget {
        &self.target
    }

    /// Sends the caller's signed `GetCallerIdentity` as it was signed, to the configured
    /// endpoint only.
    pub(crate) async fn caller_identity(
        &self,
        proof: &CheckedProof,
    ) -> Result<CallerIdentity, StsError> {
        let mut request = self
            .http
            .post(self.target.endpoint.clone())
            .body(proof.body.clone());
        for (name, value) in &proof.headers {
            // reqwest sets Host from the URL, which the proof's checks made equal to it.
            if name != "host" {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let response = request
            .send()
            .await
            .map_err(|error| StsError::Unavailable(format!("calling STS: {error}")))?;
        let status = response.status();
        let answer = read_bounded(response).await?;
        if status.is_success() {
            return parse_caller_identity(&answer)
                .map_err(|error| StsError::Unavailable(format!("reading STS's answer: {error}")));
        }
        let code = error_code(&answer).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        // Throttling and STS's own failures say nothing about the caller.
        if status.is_server_error()
            || status.as_u16() == 429
            || matches!(
                code.as_str(),
                "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
            )
        {
            return Err(StsError::Unavailable(format!(
                "STS answered {status}: {code}"
            )));
        }
        Err(StsError::Rejected { code })
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, StsError> {
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| StsError::Unavailable(format!("reading STS's answer: {error}")))?
    {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(StsError::Unavailable(format!(
                "STS's answer is larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        answer.extend_from_slice(&chunk);
    }
    Ok(answer)
}

/// `GetCallerIdentityResponse/GetCallerIdentityResult/{Arn, Account, UserId}`, as the SDK
/// reads it.
fn parse_caller_identity(answer: &[u8]) -> Result<CallerIdentity, XmlDecodeError> {
    let mut doc = Document::try_from(answer)?;
    let mut root = doc.root_element()?;
    if !root.start_el().matches("GetCallerIdentityResponse") {
        return Err(XmlDecodeError::custom(
            "the root is not GetCallerIdentityResponse",
        ));
    }
    let (mut arn, mut account, mut user_id) = (None, None, None);
    while let Some(mut result) = root.next_tag() {
        if !result.start_el().matches("GetCallerIdentityResult") {
            continue;
        }
        while let Some(mut field) = result.next_tag() {
            let slot = if field.start_el().matches("Arn") {
                &mut arn
            } else if field.start_el().matches("Account") {
                &mut account
            } else if field.start_el().matches("UserId") {
                &mut user_id
            } else {
                continue;
            };
            *slot = Some(try_data(&mut field)?.trim().to_owned());
        }
    }
    match (arn, account, user_id) {
        (Some(arn), Some(account), Some(user_id)) => Ok(CallerIdentity {
            arn,
            account,
            user_id,
        }),
        _ => Err(XmlDecodeError::custom(
            "the answer lacks Arn, Account or UserId",
        )),
    }
}

/// The `Code` of an STS error answer (`ErrorResponse/Error/Code`), wherever it sits.
fn error_code(answer: &[u8]) -> Option<String> {
    let mut doc = Document::try_from(answer).ok()?;
    while let Some(start) = doc.next_start_element() {
        if start.matches("Code") {
            let mut code = doc.scoped_to(start);
            let text = try_data(&mut code).ok()?.trim().to_owned();
            // Only a short token goes into the client's answer and the log.
            let plain = !text.is_empty()
                && text.len() <= 64
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
            return plain.then_some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_caller_from_sts_xml() {
        let answer =
            br#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane</Arn>
    <UserId>AROAEXAMPLE:jane</UserId>
    <Account>111111111111</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;
        assert_eq!(
            parse_caller_identity(answer).unwrap(),
            CallerIdentity {
                arn: "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane".into(),
                account: "111111111111".into(),
                user_id: "AROAEXAMPLE:jane".into(),
            }
        );
        assert!(parse_caller_identity(b"<Other/>").is_err());
        assert!(parse_caller_identity(b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>x</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>").is_err());
        assert!(parse_caller_identity(b"not xml").is_err());
    }

    #[test]
    fn reads_the_code_of_an_error() {
        let answer = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>
  <RequestId>x</RequestId></ErrorResponse>"#;
        assert_eq!(error_code(answer).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(
            error_code(b"<ErrorResponse><Error><Code>a b <c></Code></Error></ErrorResponse>"),
            None
        );
        assert_eq!(error_code(b"plain text"), None);
    }
}
