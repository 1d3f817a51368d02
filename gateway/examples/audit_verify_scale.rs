//! `liftgate audit verify` at scale: writes a chained log of `AUDIT_RECORDS` records
//! (default 1 000 000, a thousand a day) with a signed checkpoint into a directory, exactly as
//! the file sink lays it out, then times reading and verifying it the way the command does.
//!
//! ```text
//! cargo run -p liftgate-gateway --example audit_verify_scale --release
//! ```
//!
//! `AUDIT_DIR` keeps the log in that directory (and reuses it when it already holds one), so
//! the command itself can be timed on it:
//! `liftgate audit verify --source $AUDIT_DIR --public-key $AUDIT_DIR/../public-key.pem`.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measurement program that prints its results and fails loudly"
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use liftgate_gateway::audit::verify::{VerifyOptions, verify};
use liftgate_gateway::audit::{
    AuditRecord, CHECKPOINT_DIR, ChainHead, SigningKey, object_key, source,
};
use liftgate_gateway::domain::{Channel, RequestEvent, RequestStatus};
use liftgate_gateway::testing::sample_request;
use time::OffsetDateTime;

const PER_DAY: u64 = 1000;

fn write_log(dir: &Path, count: u64, key: &SigningKey) {
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let request = sample_request(RequestStatus::Pending, start);
    let mut head = ChainHead::default();
    let events = [
        RequestEvent::Requested,
        RequestEvent::Approved,
        RequestEvent::Granted,
        RequestEvent::Revoked,
    ];
    for index in 0..count {
        let at = start
            + time::Duration::days((index / PER_DAY) as i64)
            + time::Duration::milliseconds((index % PER_DAY) as i64 * 60_000);
        let mut record = AuditRecord::for_request(
            at,
            events[(index % 4) as usize],
            Channel::Webhook,
            &request,
            None,
            None,
            None,
        );
        head.append(&mut record).unwrap();
        let path = dir.join(object_key(&record));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&record.fields).unwrap()).unwrap();
        if index % 100_000 == 99_999 {
            println!("  wrote {} records", index + 1);
        }
    }
    let checkpoint = key
        .checkpoint(&head, start + time::Duration::days(10_000))
        .unwrap();
    let path = dir.join(CHECKPOINT_DIR).join(checkpoint.object_key());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&checkpoint).unwrap()).unwrap();
}

fn main() {
    let count: u64 = std::env::var("AUDIT_RECORDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let temporary = tempfile::tempdir().unwrap();
    let dir: PathBuf =
        std::env::var_os("AUDIT_DIR").map_or_else(|| temporary.path().join("audit"), PathBuf::from);
    let key_file = dir.parent().unwrap().join("audit-bench-key.der");
    if !dir.join(CHECKPOINT_DIR).exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let (key, der) = SigningKey::generate().unwrap();
        std::fs::write(&key_file, der).unwrap();
        std::fs::write(
            dir.parent().unwrap().join("public-key.pem"),
            key.public_key().to_pem(),
        )
        .unwrap();
        let started = Instant::now();
        println!("writing {count} records to {}", dir.display());
        write_log(&dir, count, &key);
        println!("written in {:.1?}", started.elapsed());
    }
    let der = std::fs::read(&key_file).unwrap();
    let key = SigningKey::parse(&pem_text(&der)).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let started = Instant::now();
    let (links, checkpoints) = source::read_directory(&dir).unwrap();
    let read = started.elapsed();
    let options = VerifyOptions {
        public_key: Some(key.public_key()),
        since: None,
    };
    let report = verify(links, checkpoints, &options);
    let total = started.elapsed();
    assert!(
        report.is_clean(),
        "{:?}",
        &report.findings[..report.findings.len().min(5)]
    );
    println!(
        "verified {} records and {} checkpoint(s) on {threads} core(s) in {total:.2?} (reading, parsing and hashing {read:.2?}; chain and checkpoint checks {:.2?})",
        report.records,
        report.checkpoints,
        total - read
    );
}

/// The key file holds DER; `SigningKey::parse` takes PEM.
fn pem_text(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()))
}
