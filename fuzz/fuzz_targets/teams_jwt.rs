#![no_main]

// The check (and its properties) lives in the crate, so the corpus replay in `cargo test`
// runs exactly what this target runs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| liftgate_teams::fuzzing::teams_jwt(data));
