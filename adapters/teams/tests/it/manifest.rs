//! The Teams app package: the manifest names the commands the bot understands, the icons are
//! the PNGs Teams requires, and `package.sh` fills the placeholders and zips the three files.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../manifests/teams")
}

/// (width, height, colour type) from a PNG's IHDR chunk.
fn png_header(name: &str) -> (u32, u32, u8) {
    let bytes = std::fs::read(manifests().join(name)).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name} is not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height, bytes[25])
}

#[test]
fn the_manifest_declares_the_bot_and_its_commands() {
    let text = std::fs::read_to_string(manifests().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let version: f64 = manifest["manifestVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(version >= 1.19);
    assert_eq!(manifest["id"], "{{TEAMS_APP_ID}}");
    let bot = &manifest["bots"][0];
    assert_eq!(bot["botId"], "{{BOT_APP_ID}}");
    assert_eq!(bot["scopes"], serde_json::json!(["personal", "team"]));
    let commands: Vec<&str> = bot["commandLists"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["access", "group access", "help"]);
    assert_eq!(manifest["validDomains"], serde_json::json!(["{{DOMAIN}}"]));
    assert!(manifest["name"]["short"].as_str().unwrap().len() <= 30);
    assert!(manifest["description"]["short"].as_str().unwrap().len() <= 80);
}

#[test]
fn the_icons_have_the_sizes_teams_requires() {
    assert_eq!(png_header("color.png"), (192, 192, 6));
    assert_eq!(
        png_header("outline.png"),
        (32, 32, 6),
        "RGBA, so it can be transparent"
    );
}

#[test]
fn package_sh_fills_the_placeholders_and_zips_the_app() {
    let out = std::env::temp_dir().join(format!("liftgate-teams-package-{}", uuid::Uuid::new_v4()));
    let status = Command::new("bash")
        .arg(manifests().join("package.sh"))
        .args([
            "--bot-app-id",
            "0a1b2c3d-0000-4000-8000-00000000a77e",
            "--domain",
            "liftgate.example.com",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let zip = std::fs::read(out.join("liftgate-teams.zip")).unwrap();
    assert_eq!(&zip[..2], b"PK");
    let listing = String::from_utf8_lossy(&zip);
    for name in ["manifest.json", "color.png", "outline.png"] {
        assert!(listing.contains(name), "{name} missing from the package");
    }
    std::fs::remove_dir_all(&out).unwrap();

    let refused = Command::new("bash")
        .arg(manifests().join("package.sh"))
        .args([
            "--bot-app-id",
            "not-a-guid",
            "--domain",
            "liftgate.example.com",
            "--out",
        ])
        .arg(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must be a GUID"));
}

#[actix_web::test]
async fn the_privacy_and_terms_pages_the_manifest_links_to_are_served() {
    use actix_web::{App, test};
    let bed = crate::support::Bed::new().await;
    let routes = bed.routes.clone();
    let app =
        test::init_service(App::new().configure(move |config| routes.configure(config))).await;
    for (path, words) in [
        ("/teams/privacy", "email address"),
        ("/teams/terms", "audit trail"),
    ] {
        let response =
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), actix_web::http::StatusCode::OK, "{path}");
        assert!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("text/html"))
        );
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(body.contains(words), "{path}: {body}");
    }
    // The manifest's default links are exactly these paths.
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/teams/package.sh"),
    )
    .unwrap();
    assert!(script.contains("/teams/privacy") && script.contains("/teams/terms"));
}
