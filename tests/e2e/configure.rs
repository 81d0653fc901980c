//! `configure`: the README's path from `discover` to `read` without writing a catalog by hand.

use std::process::Command;

use harvest_emulator::Scale;
use serde_json::json;

use crate::common::{self, Files, BIN};

#[test]
fn configure_prints_a_catalog_that_read_accepts() {
    let emu = common::emulator(Scale::Tiny);
    let files = Files::new();
    let config = files.json("config.json", &common::config(&emu, json!({})));
    let out = Command::new(BIN)
        .args([
            "configure",
            "--streams",
            "clients,users",
            "--mode",
            "full_refresh",
        ])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = files.bytes("catalog.json", &out.stdout);
    let run = common::run(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = run.records();
    assert_eq!(records.keys().collect::<Vec<_>>(), ["clients", "users"]);
    assert_eq!(
        records["clients"].len() as u64,
        emu.expected_counts()["clients"]
    );
}

#[test]
fn configure_names_the_streams_when_one_is_unknown() {
    let out = Command::new(BIN)
        .args(["configure", "--streams", "clints"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown stream clints; the streams are: clients,"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
