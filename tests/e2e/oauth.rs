//! OAuth refresh tokens rotated as Harvest ID may rotate them (issue 22, point 7): the emulator
//! answers each refresh with a new refresh token and revokes the one it was given. A `read`
//! whose access token expires mid-sync hands each new refresh token to the platform in one
//! CONTROL message, completes with the emulator's records, and the config of its last CONTROL
//! message works next time, while a revoked refresh token fails with a config_error trace. No
//! token appears anywhere else, at the loudest logging.

use std::time::Duration;

use harvest_emulator::{
    Emulator, EmulatorConfig, Scale, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN,
};
use serde_json::{json, Value};

use crate::common::{self, collect, lines, served_records, ReadInput, Run};
use crate::secrets::LOUDEST;

/// Lifetime of the emulator's access tokens; its clock is moved this far mid-sync.
const TTL: Duration = Duration::from_secs(3600);

/// Prefixes of every token the emulator issues: access tokens and rotated refresh tokens.
const ISSUED: [&str; 2] = ["emulator-access-token-", "emulator-rotated-refresh-token-"];

fn oauth_config(emu: &Emulator, refresh_token: &str) -> Value {
    common::config(
        emu,
        json!({
            "credentials": {
                "auth_type": "Client",
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": OAUTH_CLIENT_SECRET,
                "refresh_token": refresh_token
            },
            // Many pages, so that the sync is far from done when the token expires.
            "page_size": 100
        }),
    )
}

/// The configs of `run`'s CONTROL messages, in order, each checked to be a CONNECTOR_CONFIG.
fn controls(run: &Run) -> Vec<&Value> {
    run.of_type("CONTROL")
        .into_iter()
        .map(|m| {
            assert_eq!(m["control"]["type"], "CONNECTOR_CONFIG", "{m}");
            &m["control"]["connectorConfig"]["config"]
        })
        .collect()
}

/// Asserts that no secret is in `lines` (stdout) or `stderr`, except the client secret and
/// refresh token inside a CONTROL message's config, where the protocol puts them; and that an
/// access token is nowhere at all.
fn assert_secrets_only_in_controls(what: &str, lines: &[String], stderr: &str) {
    assert!(!lines.is_empty(), "{what}: no output");
    let secrets = [
        OAUTH_CLIENT_SECRET,
        OAUTH_REFRESH_TOKEN,
        ISSUED[0],
        ISSUED[1],
    ];
    for line in lines {
        let message: Value = serde_json::from_str(line).unwrap();
        let allowed: &[&str] = if message["type"] == "CONTROL" {
            &[OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, ISSUED[1]]
        } else {
            &[]
        };
        for secret in secrets.iter().filter(|s| !allowed.contains(s)) {
            assert!(
                !line.contains(secret),
                "{what}: {}… on stdout in {:.80}",
                &secret[..12],
                message["type"]
            );
        }
    }
    for secret in secrets {
        assert!(
            !stderr.contains(secret),
            "{what}: {}… on stderr",
            &secret[..12]
        );
    }
    assert!(!stderr.contains("panicked"), "{what}: {stderr:.2000}");
}

/// Runs `read` of `streams` with `config` at the loudest logging.
fn read_loud(config: &Value, streams: &[&str]) -> Run {
    let input = ReadInput::new(config, streams, "full_refresh");
    common::run_with_env(
        &[
            "read",
            "--config",
            input.config.to_str().unwrap(),
            "--catalog",
            input.catalog.to_str().unwrap(),
        ],
        &[("SOURCE_HARVEST_LOG", LOUDEST)],
    )
}

/// Records sorted by id, to compare a sync with the emulator's listing.
fn by_id(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by_key(|r| r["id"].as_i64());
    records
}

#[test]
fn a_refresh_token_rotated_mid_sync_reaches_the_platform_once_and_the_old_one_fails() {
    let emu = Emulator::start(EmulatorConfig {
        scale: Scale::Small,
        general_limit: None,
        reports_limit: None,
        access_token_ttl: TTL,
        rotate_refresh_tokens: true,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts");
    let time_entries = by_id(served_records(&emu, "/time_entries", "time_entries"));
    let clients = by_id(served_records(&emu, "/clients", "clients"));
    assert!(time_entries.len() > 1_000, "many pages of 100");
    assert!(!clients.is_empty());
    let original = oauth_config(&emu, OAUTH_REFRESH_TOKEN);
    let input = ReadInput::new(&original, &["clients", "time_entries"], "full_refresh");

    // The sync's first token comes from a refresh, which rotates the refresh token once.
    let mut child = input.spawn_with_env(None, &[("SOURCE_HARVEST_LOG", LOUDEST)]);
    let mut stdout = lines(&mut child);
    let mut raw = Vec::new();
    let mut seen = Vec::new();
    for line in stdout.by_ref() {
        let message: Value = serde_json::from_str(&line).expect("a JSON line");
        common::assert_valid_message(&message);
        raw.push(line);
        let first_entry =
            message["type"] == "RECORD" && message["record"]["stream"] == "time_entries";
        seen.push(message);
        if first_entry {
            break;
        }
    }
    let expiry = seen.len();
    assert!(
        matches!(seen.last(), Some(m) if m["type"] == "RECORD"),
        "the read ended before its first time entry: {seen:?}"
    );
    // Hours pass on Harvest's clock: the access token has expired; the read, held by its
    // unread output, still has most of its pages to request, and its next one gets a 401.
    emu.advance_clock(TTL.as_secs() as i64);
    let run = collect(child, seen, stdout.inspect(|line| raw.push(line.clone())));
    assert_eq!(run.code, 0, "{:?}", run.errors());
    assert_eq!(by_id(run.stream("time_entries")), time_entries);
    assert_eq!(by_id(run.stream("clients")), clients);

    // Two refreshes (the first token, then the expired one's renewal), two rotations: each new
    // refresh token reaches the platform exactly once, the newest last.
    let tokens = emu.refresh_tokens();
    assert_eq!(tokens.rotations, 2, "{tokens:?}");
    let configs = controls(&run);
    assert_eq!(configs.len(), 2, "one CONTROL per rotation");
    let carried: Vec<&str> = configs
        .iter()
        .map(|c| c["credentials"]["refresh_token"].as_str().unwrap())
        .collect();
    assert_eq!(
        carried[1], tokens.refresh_token,
        "the last is the one Harvest accepts now"
    );
    assert_ne!(carried[0], carried[1]);
    assert_ne!(carried[0], OAUTH_REFRESH_TOKEN);
    for config in &configs {
        let mut expected = original.clone();
        expected["credentials"]["refresh_token"] = config["credentials"]["refresh_token"].clone();
        assert_eq!(
            **config, expected,
            "the user's config, the refresh token replaced"
        );
    }
    let renewal = run
        .messages
        .iter()
        .rposition(|m| m["type"] == "CONTROL")
        .unwrap();
    assert!(
        renewal >= expiry,
        "the second rotation came with the expiry, mid-sync"
    );
    assert_secrets_only_in_controls("the rotating read", &raw, &run.stderr);

    // The platform stores the last config: the next sync works with it (and rotates again).
    let next = read_loud(configs[1], &["clients"]);
    assert_eq!(next.code, 0, "{:?}", next.errors());
    assert_eq!(by_id(next.stream("clients")), clients);
    let renewed = controls(&next);
    assert_eq!(renewed.len(), 1);
    assert_eq!(
        renewed[0]["credentials"]["refresh_token"],
        emu.refresh_tokens().refresh_token
    );
    let next_lines: Vec<String> = next.stdout.lines().map(str::to_string).collect();
    assert_secrets_only_in_controls("the next read", &next_lines, &next.stderr);

    // A config with a revoked refresh token (the one the user entered, or one a CONTROL
    // message replaced) fails at once with a config_error that says what to do.
    for (what, config) in [
        ("the original", original),
        ("the first rotated", configs[0].clone()),
    ] {
        let rotations = emu.refresh_tokens().rotations;
        let old = read_loud(&config, &["clients"]);
        assert_ne!(old.code, 0, "{what}");
        assert!(old.of_type("RECORD").is_empty(), "{what}");
        assert!(old.of_type("CONTROL").is_empty(), "{what}");
        let errors = old.errors();
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert_eq!(errors[0]["failure_type"], "config_error", "{what}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(
            message.contains("refresh token was rejected (invalid_grant)")
                && message.contains("reconnect the source"),
            "{what}: {message}"
        );
        assert_eq!(
            emu.refresh_tokens().rotations,
            rotations,
            "{what}: refused, not rotated"
        );
        let old_lines: Vec<String> = old.stdout.lines().map(str::to_string).collect();
        assert_secrets_only_in_controls(what, &old_lines, &old.stderr);
    }
}
