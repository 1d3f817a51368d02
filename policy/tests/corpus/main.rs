//! The policy corpus: the rules engine's behaviour written down as data (`cases/*.yaml`), plus
//! property tests (`indexed.rs`: the index against a scan). One binary, so `cargo test -p liftgate-policy --test corpus` runs it all.
//!
//! Each case file is a YAML stream of suites (documents separated by `---`); each suite is one
//! set of rules with the requests to evaluate against it, or the problems / lint warnings those
//! rules must produce. See `suite.rs` for the schema.

mod fuzz_corpus;
mod indexed;
mod invariants;
mod model;
mod props;
mod suite;

use std::path::{Path, PathBuf};

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/cases");
    let entries = std::fs::read_dir(&dir).and_then(|entries| {
        entries
            .map(|entry| entry.map(|entry| entry.path()))
            .collect()
    });
    let mut files: Vec<PathBuf> = match entries {
        Ok(paths) => paths,
        Err(error) => panic!("reading {}: {error}", dir.display()),
    };
    files.retain(|path| path.extension().is_some_and(|ext| ext == "yaml"));
    files.sort();
    files
}

/// Runs every suite of every file and fails once, listing every failing case by file, suite
/// and case description, so one run shows everything that broke.
#[test]
fn corpus() {
    let files = case_files();
    assert!(!files.is_empty(), "no case files found");
    let mut failures = Vec::new();
    let mut counted = suite::Count::default();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        match suite::run_file(&text) {
            Ok((count, file_failures)) => {
                counted.add(count);
                failures.extend(
                    file_failures
                        .into_iter()
                        .map(|failure| format!("{name}: {failure}")),
                );
            }
            Err(error) => failures.push(format!("{name}: cannot be read: {error}")),
        }
    }
    eprintln!(
        "policy corpus: {} files, {} suites, {} checks ({} requests, {} invalid-rule suites, \
         {} lint suites, {} form checks)",
        files.len(),
        counted.suites,
        counted.total(),
        counted.requests,
        counted.problems,
        counted.lints,
        counted.forms,
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n\n{}\n",
        failures.len(),
        failures.join("\n\n")
    );
}
