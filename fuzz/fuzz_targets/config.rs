//! The configuration file: loading never panics, a refused file names at least one
//! problem, and no secret (a token from the environment, or the content of a file the
//! configuration names) ever shows in the loaded configuration's `Debug` or in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::config::Config;
use std::path::Path;

/// What every secret file "contains"; long enough to pass as a token.
const FILE_SECRET: &str = "file-secret-7f1c9e2a4b6d8e0f";
/// An API client token in the environment, for `token_env = "SHIPGATE_CI_TOKEN"`.
const ENV_SECRET: &str = "env-secret-3a5c7e9b1d2f4a6c";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A file that spells a secret out itself may show it back (an error quotes the line or
    // key it is in); that is not a leak. Spelled out as written, or through TOML escapes.
    if text.contains(FILE_SECRET) || text.contains(ENV_SECRET) {
        return;
    }
    if let Ok(table) = text.parse::<toml::Table>() {
        let spelled = format!("{table:?}");
        if spelled.contains(FILE_SECRET) || spelled.contains(ENV_SECRET) {
            return;
        }
    }
    let env = [("SHIPGATE_CI_TOKEN", ENV_SECRET)];
    let read_file = |_: &Path| Ok(FILE_SECRET.to_owned());
    match Config::from_toml_str(text, Path::new("fuzz.toml"), env, &read_file) {
        Ok(config) => {
            let shown = format!("{config:?}");
            assert!(!shown.contains(FILE_SECRET) && !shown.contains(ENV_SECRET), "a secret shows in {shown}");
            let _ = config.held_roles();
        }
        Err(error) => {
            let problems = error.problems();
            assert!(!problems.is_empty(), "a refused configuration names no problem: {error:?}");
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.trim().is_empty());
                assert!(!shown.contains(FILE_SECRET) && !shown.contains(ENV_SECRET), "a secret shows in {shown}");
            }
        }
    }
});
