//! Bad configuration stops sink-csv at start-up with a message naming the key.

use std::process::Command;

fn start_with(env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sink-csv"))
        .env_remove("FERROFLOW_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("run sink-csv");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_value_fails_naming_the_key_and_the_expected_form() {
    let (ok, stderr) = start_with(&[("FERROFLOW_SINK_CSV__ROTATE_BYTES", "lots")]);
    assert!(!ok);
    assert!(stderr.contains("`sink_csv.rotate_bytes`"), "{stderr}");
    assert!(
        stderr.contains("FERROFLOW_SINK_CSV__ROTATE_BYTES"),
        "{stderr}"
    );
}

#[test]
fn unknown_stream_fails_listing_the_known_ones() {
    let (ok, stderr) = start_with(&[("FERROFLOW_SINK_CSV__STREAMS", "stock_ticks,prices")]);
    assert!(!ok);
    assert!(
        stderr.contains("`sink_csv.streams`") && stderr.contains("user_login"),
        "{stderr}"
    );
}

#[test]
fn misspelt_key_fails_instead_of_being_ignored() {
    let (ok, stderr) = start_with(&[("FERROFLOW_SINK_CSV__DIRECTROY", "/tmp/x")]);
    assert!(!ok);
    assert!(stderr.contains("sink_csv.directroy"), "{stderr}");
}
