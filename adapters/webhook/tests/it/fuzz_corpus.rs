//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the fuzz targets
//! run (`fuzz/README.md`), so every input a fuzz run kept, including each crash once fixed,
//! stays tested in the normal `cargo test`, without libFuzzer.

use std::path::Path;

use liftgate_policy::fuzzing::replay_corpus;

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus"))
}

#[test]
fn webhook_body_corpus_passes_its_checks() {
    replay_corpus(
        corpus(),
        "webhook_body",
        liftgate_webhook::fuzzing::webhook_body,
    );
}
