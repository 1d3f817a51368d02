//! The privacy and terms pages the Teams app manifest links to (`/teams/privacy`,
//! `/teams/terms`): Teams shows these links to every user who installs the app, and the
//! manifest validator requires them. They describe what this gateway does with Teams data;
//! an organisation with its own pages points the manifest there instead
//! (`manifests/teams/package.sh --privacy-url --terms-url`).

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;

const PRIVACY: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Liftgate: privacy</title></head>
<body>
<h1>Liftgate: privacy</h1>
<p>Liftgate is run by your organisation to grant temporary access to its AWS accounts. It is
not a service of the Liftgate project: nothing you send reaches anyone but your organisation's
own gateway and the AWS account it runs in.</p>
<h2>What the app reads</h2>
<ul>
<li>Your Microsoft Entra object id, name and email address, from Teams, to know who asks for or
approves access and to find your user in AWS IAM Identity Center.</li>
<li>What you type into its forms: the account or group, the duration, the reason and any
comment on a decision.</li>
<li>The conversations it is used in, to post and update approval cards.</li>
</ul>
<h2>Where it is kept</h2>
<p>Requests, decisions and grants are kept in your organisation's state store and written to
its audit log (files or an S3 bucket your organisation controls), for as long as your
organisation's retention settings say. Teams messages the app posted stay in Teams.</p>
<h2>Questions</h2>
<p>Ask the team that runs Liftgate in your organisation (usually platform or security
engineering); they can tell you what is recorded about you and have it corrected.</p>
</body></html>
"#;

const TERMS: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Liftgate: terms of use</title></head>
<body>
<h1>Liftgate: terms of use</h1>
<p>This app is operated by your organisation for its own staff. Use it only to request access
you need for your work, and give a truthful reason: every request, approval and grant is
recorded in an audit trail your organisation reviews.</p>
<p>Access it grants is temporary and ends on its own; do not share it. Your organisation's
acceptable-use and security policies apply to everything you do with it.</p>
<p>Liftgate is open-source software provided under the Apache License 2.0, without warranty.</p>
</body></html>
"#;

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html)
}

pub(crate) async fn privacy() -> HttpResponse {
    page(PRIVACY)
}

pub(crate) async fn terms() -> HttpResponse {
    page(TERMS)
}
