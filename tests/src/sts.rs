//! STS on a private moto server for the CLI channel's tests: IAM roles anyone may assume,
//! role sessions with chosen names in chosen accounts, and then moto told to verify every
//! SigV4 signature (`/moto-api/reset-auth`), as real STS does.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_xml::decode::{Document, try_data};
use serde_json::json;

use crate::moto::{MotoServer, REGION};

/// The role name of an Identity Center permission set `Admin`.
pub const SSO_ROLE: &str = "AWSReservedSSO_Admin_0123456789abcdef";

/// STS on moto: roles, sessions, then signature checks on.
pub struct Sts {
    pub moto: MotoServer,
    http: reqwest::Client,
}

fn find_text(xml: &str, element: &str) -> Option<String> {
    let mut doc = Document::new(xml);
    while let Some(start) = doc.next_start_element() {
        if start.matches(element) {
            let mut scoped = doc.scoped_to(start);
            return try_data(&mut scoped)
                .ok()
                .map(|text| text.trim().to_owned());
        }
    }
    None
}

impl Sts {
    pub fn start() -> Sts {
        Sts {
            moto: MotoServer::start(),
            http: reqwest::Client::new(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/", self.moto.endpoint().trim_end_matches('/'))
    }

    /// One query-protocol call, signed with the test credentials (moto does not check them
    /// until [`Sts::check_signatures`]).
    async fn query(&self, service: &str, version: &str, params: &[(&str, &str)]) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in params {
            form.append_pair(key, value);
        }
        form.append_pair("Version", version);
        let body = form.finish();
        let url = self.endpoint();
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let headers = [
            ("host", host.as_str()),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ];
        let identity = Credentials::new("testing", "testing", None, None, "tests").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = self.http.post(&url).body(body.clone());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "moto {service} {params:?}: {status} {text}",
            params = params
        );
        text
    }

    /// An IAM role anyone may assume, in moto's default account.
    pub async fn create_role(&self, name: &str) {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        .to_string();
        self.query(
            "iam",
            "2010-05-08",
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await;
    }

    /// Credentials of a session of `role` in `account`, named `session_name`.
    pub async fn assume(&self, account: &str, role: &str, session_name: &str) -> Credentials {
        let arn = format!("arn:aws:iam::{account}:role/{role}");
        let xml = self
            .query(
                "sts",
                "2011-06-15",
                &[
                    ("Action", "AssumeRole"),
                    ("RoleArn", &arn),
                    ("RoleSessionName", session_name),
                ],
            )
            .await;
        Credentials::new(
            find_text(&xml, "AccessKeyId").unwrap(),
            find_text(&xml, "SecretAccessKey").unwrap(),
            find_text(&xml, "SessionToken"),
            None,
            "moto-assume-role",
        )
    }

    /// From now on moto verifies every signature and refuses unknown keys.
    pub async fn check_signatures(&self) {
        let response = self
            .http
            .post(format!("{}moto-api/reset-auth", self.endpoint()))
            .body("0")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}
