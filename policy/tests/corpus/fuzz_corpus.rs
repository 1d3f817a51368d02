//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the fuzz targets
//! run (`fuzz/README.md`), so every input a fuzz run kept, including each crash once fixed,
//! stays tested in the normal `cargo test`, without libFuzzer.

use std::path::Path;

use liftgate_policy::fuzzing::replay_corpus;

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus"))
}

#[test]
fn duration_corpus_passes_its_checks() {
    replay_corpus(corpus(), "duration", liftgate_policy::fuzzing::duration);
}

#[test]
fn policy_statements_corpus_passes_its_checks() {
    replay_corpus(
        corpus(),
        "policy_statements",
        liftgate_policy::fuzzing::policy_statements,
    );
}

/// Every fuzz target has a corpus in the repo, replayed by some crate's tests.
#[test]
fn every_fuzz_target_has_a_corpus() {
    let targets = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/fuzz_targets"));
    let mut names: Vec<String> = std::fs::read_dir(targets)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9, "targets: {names:?}");
    for name in names {
        let files = std::fs::read_dir(corpus().join(&name))
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert!(files > 0, "the fuzz target {name} has no corpus");
    }
}
