//! What hourly incremental syncs cost (issue 14): requests, and the time Harvest's limits
//! impose on them, for a first sync, an unchanged one, and ones after 10 and 100 changes, with
//! `child_sweep_hours` 0 (every parent's children in every sync) and 24, each with
//! `capture_deletions` on (the default) and off, so what deletion capture costs shows. The
//! largest STATE message of each sync is recorded too. The emulator serves
//! without a limit and its clock moves an hour between syncs; the time at Harvest's limits is
//! computed from the requests per bucket (100 per 15 s, reports 100 per 15 min), the least any
//! client can take for them. The catalog is every incremental stream: the full-refresh-only ones
//! cost the same in every sync (2 requests and 2 per user).
//!
//! With `--steady N`, each series goes on for N more hourly syncs with a few changes and a
//! deletion each: deletion capture compares listings part by part only from its third complete
//! listing (after more than 2 × `child_sweep_hours`), so what that keeps in the state shows only
//! there, not in the first four syncs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use harvest_emulator::{Emulator, EmulatorConfig, Scale};
use serde::Serialize;
use serde_json::{json, Value};

use crate::connector::{target_subdir, Connector, ReadFiles, Result};
use crate::demo::{configured_catalog, write_json};

mod table;

/// Harvest's limits: requests per window, and the window in seconds.
const GENERAL: (u64, f64) = (100, 15.0);
const REPORTS: (u64, f64) = (100, 900.0);

/// The streams whose ids the changes pick from, and how many of each are kept.
const KEPT_IDS: usize = 200;

/// One sync's cost: a row of `cost.json` and of the printed table.
#[derive(Serialize)]
struct SyncCost {
    /// Which sync of the series (`first`, `unchanged`, `10 changes`, `100 changes`).
    sync: &'static str,
    /// `general` and `reports` together.
    requests: u64,
    general: u64,
    reports: u64,
    /// Requests to child endpoints (`…/{id}/…`).
    child_requests: u64,
    records: u64,
    /// Bytes of the largest STATE message the sync emitted (as one line of JSON).
    largest_state_bytes: usize,
    /// STATE messages the sync emitted, and their bytes together: what checkpoints cost the
    /// output (deletion capture writes one after a page of new records).
    states: usize,
    states_bytes: usize,
    /// The least time Harvest's limits allow for these requests (see [`at_harvest_limit`]).
    seconds_at_harvest_limit: f64,
    wall_seconds_unlimited: f64,
    child_sweep_hours: f64,
    capture_deletions: bool,
    /// The emulator's account (`Small`, `Large`…).
    scale: String,
    /// Requests per route template, e.g. `/v2/invoices/{id}/messages`.
    requests_by_path: BTreeMap<String, u64>,
}

/// What the `--steady` syncs after a series cost: a row of `cost.json` (among the series' rows)
/// and two of the printed table. Maximum and mean, since a child sweep's share of the parents
/// and the listings' progress vary from one hour to the next.
#[derive(Serialize)]
struct SteadyCost {
    /// `steady`: what sets it apart from the series' rows in `cost.json`.
    sync: &'static str,
    /// How many hourly syncs it covers.
    syncs: usize,
    max_requests: u64,
    mean_requests: f64,
    /// The least time Harvest's limits allow for the sync with the most requests.
    max_seconds_at_harvest_limit: f64,
    /// Bytes of the largest STATE message of any of these syncs (one stream's, as one line of
    /// JSON), and its stream: the one whose state grows with deletion capture's parts.
    largest_state_bytes: usize,
    largest_state_stream: String,
    /// Bytes of the largest state of all streams together at the end of a sync (the state file
    /// the next sync starts from): what the platform stores for the connection.
    largest_whole_state_bytes: usize,
    /// The most and the mean bytes of STATE messages of a sync, all streams together.
    max_states_bytes: usize,
    mean_states_bytes: f64,
    child_sweep_hours: f64,
    capture_deletions: bool,
    scale: String,
}

/// A row of `cost.json`: a sync of a series, or the `--steady` syncs after it.
#[derive(Serialize)]
#[serde(untagged)]
enum Row {
    Sync(SyncCost),
    Steady(SteadyCost),
}

/// Streams the `--steady` syncs delete from, one record a sync in turn: a numbered list and
/// children, whose listings capture compares in parts. Parents are left alone: the changes
/// create children of kept invoices.
const DELETED: [&str; 3] = ["time_entries", "invoice_payments", "invoice_messages"];

/// Changes per `--steady` sync, besides its deletion.
const STEADY_CHANGES: usize = 2;

/// The least time Harvest's limits allow for `general` and `reports` requests: every full
/// window waited out.
fn at_harvest_limit(general: u64, reports: u64) -> f64 {
    // A burst of `per`, then `per` more at each window's end.
    let waited = |n: u64, (per, window): (u64, f64)| (n.saturating_sub(1) / per) as f64 * window;
    waited(general, GENERAL).max(waited(reports, REPORTS))
}

/// The setting a series runs in, which every row of it records.
#[derive(Clone, Copy)]
struct Setting {
    scale: Scale,
    sweep: f64,
    capture: bool,
}

/// Options of `cargo xtask cost`.
#[derive(clap::Args)]
pub struct Args {
    /// The Small account instead of the Large one (and no 10-times account): `--account small`.
    #[arg(long)]
    quick: bool,
    /// The accounts to run, in this order (repeatable); by default `large` and `ten-times`.
    #[arg(long = "account", value_enum)]
    accounts: Vec<Account>,
    /// The `child_sweep_hours` to run (repeatable); by default 0 and 24, and 72 on the ten-times
    /// account.
    #[arg(long = "sweep")]
    sweeps: Vec<f64>,
    /// Hourly syncs to run after each series, with 2 changes and a deletion each, to see the
    /// cost once deletion capture compares listings part by part (from its third complete
    /// listing, so more than 2 × child_sweep_hours of them); 0 runs none.
    #[arg(long, default_value_t = 0)]
    steady: usize,
}

/// The accounts `cargo xtask cost` measures.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Account {
    /// The demo's account (4,000 time entries).
    Small,
    /// 1,000,000 time entries: 1,820 invoices, 910 estimates, 200 users.
    Large,
    /// Ten times Large's invoices (18,200) and estimates (9,100); users stop growing at 400.
    /// Time entries are left out: they cost the same in every setting.
    TenTimes,
}

impl Account {
    /// The emulator's scale, the streams left out of the syncs and the default sweeps.
    fn setup(self) -> (Scale, &'static [&'static str], &'static [f64]) {
        match self {
            Account::Small => (Scale::Small, &[], &[0.0, 24.0]),
            Account::Large => (Scale::Large, &[], &[0.0, 24.0]),
            Account::TenTimes => (
                Scale::Custom {
                    time_entries: 6_200_000,
                },
                &["time_entries"],
                // 72 hours: the interval at which this account's hourly sync stays under 1,000.
                &[0.0, 24.0, 72.0],
            ),
        }
    }
}

/// `cargo xtask cost`: the series on Large (or Small), and on an account of ten times
/// Large's parents (time entries left out: they cost the same in every setting), into
/// `<target>/bench/cost.json`.
pub fn run(args: Args) -> Result<()> {
    let accounts = match (args.quick, args.accounts.is_empty()) {
        (true, _) => vec![Account::Small],
        (false, true) => vec![Account::Large, Account::TenTimes],
        (false, false) => args.accounts,
    };
    let connector = Connector::build()?;
    let dir = target_subdir(connector.exe(), "bench")?;
    let config = dir.join("discover-config.json");
    write_json(
        &config,
        &serde_json::json!({
            "account_id": "1",
            "replication_start_date": crate::expected::START_DATE,
            "credentials": {"auth_type": "Token", "api_token": "unused"}
        }),
    )?;
    let discover = [
        std::ffi::OsStr::new("discover"),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    let catalog = connector.answer(&discover, "CATALOG")?["catalog"].clone();
    let mut rows = Vec::new();
    for account in accounts {
        let (scale, skip, default_sweeps) = account.setup();
        let sweeps = if args.sweeps.is_empty() {
            default_sweeps
        } else {
            args.sweeps.as_slice()
        };
        rows.extend(series(
            &connector,
            &catalog,
            scale,
            skip,
            sweeps,
            args.steady,
            &dir,
        )?);
    }
    let out = dir.join("cost.json");
    write_json(&out, &rows)?;
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// Runs the series for each `child_sweep_hours` in `sweeps` on `scale`, with deletion capture on
/// and off, each followed by `steady_syncs` more syncs (see [`steady`]), and returns their rows,
/// printing a table. `catalog` is the discovered catalog; `skip` streams are left out of the
/// syncs.
fn series(
    connector: &Connector,
    catalog: &Value,
    scale: Scale,
    skip: &[&str],
    sweeps: &[f64],
    steady_syncs: usize,
    dir: &Path,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    table::header(scale);
    for (&sweep, capture) in sweeps
        .iter()
        .flat_map(|sweep| [(sweep, true), (sweep, false)])
    {
        let emu = Emulator::start(EmulatorConfig {
            scale,
            general_limit: None,
            reports_limit: None,
            ..EmulatorConfig::default()
        })?;
        let files = inputs(&emu, catalog, skip, sweep, capture, dir)?;
        let mut ids: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut state: Option<Value> = None;
        let setting = Setting {
            scale,
            sweep,
            capture,
        };
        for (label, changes) in [
            ("first", 0),
            ("unchanged", 0),
            ("10 changes", 10),
            ("100 changes", 100),
        ] {
            if label != "first" {
                change(&emu, &ids, 0, changes);
                emu.advance_clock(3600);
            }
            emu.reset_request_counts();
            let synced = sync(connector, &files, state.as_ref(), &mut ids)?;
            let row = cost_of(&emu, &synced, setting, label);
            state = Some(synced.state);
            table::sync(&row);
            rows.push(Row::Sync(row));
        }
        if steady_syncs > 0 {
            let (row, end) = steady(
                connector,
                &emu,
                &files,
                state,
                &mut ids,
                setting,
                steady_syncs,
            )?;
            table::steady(&row, &end);
            rows.push(Row::Steady(row));
        }
    }
    Ok(rows)
}

/// `n` more hourly syncs from `state`, each after [`STEADY_CHANGES`] changes (their kinds in
/// turn) and the deletion of a kept record (of [`DELETED`]'s streams in turn), so updates and
/// deletions keep happening as capture's listings go round. Returns what they cost, and the
/// file it writes the last state to: `cost-state.json` is the next series' input by then, and
/// this one shows what in the state is large.
fn steady(
    connector: &Connector,
    emu: &Emulator,
    files: &ReadFiles,
    mut state: Option<Value>,
    ids: &mut BTreeMap<String, Vec<i64>>,
    setting: Setting,
    n: usize,
) -> Result<(SteadyCost, PathBuf)> {
    let mut cost = SteadyCost {
        sync: "steady",
        syncs: n,
        max_requests: 0,
        mean_requests: 0.0,
        max_seconds_at_harvest_limit: 0.0,
        largest_state_bytes: 0,
        largest_state_stream: String::new(),
        largest_whole_state_bytes: 0,
        max_states_bytes: 0,
        mean_states_bytes: 0.0,
        child_sweep_hours: setting.sweep,
        capture_deletions: setting.capture,
        scale: format!("{:?}", setting.scale),
    };
    let mut total = 0;
    let mut states_bytes = 0;
    // Kept ids stay kept (a tombstone's too, and an edited record's twice), so the ones deleted
    // are remembered, not removed.
    let mut deleted: BTreeSet<(&str, i64)> = BTreeSet::new();
    for k in 0..n {
        change(emu, ids, k * STEADY_CHANGES, STEADY_CHANGES);
        let stream = DELETED[k % DELETED.len()];
        // From the back of those kept, as the changes pick from the front; a deletion Harvest
        // would refuse is skipped.
        let kept = ids.get(stream).map(Vec::as_slice).unwrap_or_default();
        if let Some(&id) = kept.iter().rev().find(|&&id| deleted.insert((stream, id))) {
            let _ = emu.try_delete(stream, id);
        }
        emu.advance_clock(3600);
        emu.reset_request_counts();
        let synced = sync(connector, files, state.as_ref(), ids)?;
        let row = cost_of(emu, &synced, setting, "steady");
        total += row.requests;
        if row.requests > cost.max_requests {
            cost.max_requests = row.requests;
            cost.max_seconds_at_harvest_limit = row.seconds_at_harvest_limit;
        }
        if synced.largest_state > cost.largest_state_bytes {
            cost.largest_state_bytes = synced.largest_state;
            cost.largest_state_stream = synced.largest_state_stream;
        }
        cost.largest_whole_state_bytes = cost
            .largest_whole_state_bytes
            .max(synced.state.to_string().len());
        cost.max_states_bytes = cost.max_states_bytes.max(synced.states_bytes);
        states_bytes += synced.states_bytes;
        state = Some(synced.state);
    }
    cost.mean_requests = total as f64 / n as f64;
    cost.mean_states_bytes = states_bytes as f64 / n as f64;
    // The scale's name without `Custom { … }`'s punctuation.
    let scale: String = cost
        .scale
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let end = files.messages.with_file_name(format!(
        "cost-state-{scale}-{}h-capture-{}.json",
        setting.sweep,
        if setting.capture { "on" } else { "off" }
    ));
    write_json(&end, &state.unwrap_or_default())?;
    Ok((cost, end))
}

/// Config and catalog files of a series.
fn inputs(
    emu: &Emulator,
    catalog: &Value,
    skip: &[&str],
    sweep: f64,
    capture: bool,
    dir: &Path,
) -> Result<ReadFiles> {
    // The emulator serves without a limit: the connector need not pace itself either.
    let unlimited = harvest_emulator::RateLimit {
        requests: 100_000,
        window: std::time::Duration::from_secs(1),
    };
    let mut config = crate::connector::config_for(emu, unlimited, unlimited);
    config["child_sweep_hours"] = json!(sweep);
    config["capture_deletions"] = json!(capture);
    // Full-refresh-only streams (company, project_budget, billable_rates, cost_rates) cost the
    // same in every sync and setting: 2 requests plus 2 per user.
    let streams: Vec<Value> = configured_catalog(catalog)
        .into_iter()
        .filter(|s| s["sync_mode"] == "incremental")
        .filter(|s| !skip.contains(&s["stream"]["name"].as_str().unwrap_or_default()))
        .collect();
    let files = ReadFiles {
        config: dir.join("cost-config.json"),
        catalog: dir.join("cost-catalog.json"),
        state: Some(dir.join("cost-state.json")),
        messages: dir.join("cost-messages.jsonl"),
        stderr: dir.join("cost-stderr.log"),
    };
    write_json(&files.config, &config)?;
    write_json(&files.catalog, &json!({ "streams": streams }))?;
    Ok(files)
}

/// What one sync emitted.
struct Synced {
    records: u64,
    /// Bytes of the largest STATE message, as one line of JSON.
    largest_state: usize,
    /// The stream of that message.
    largest_state_stream: String,
    /// STATE messages, and their bytes together.
    states: usize,
    states_bytes: usize,
    wall: f64,
    /// The last STATE of each stream, as the next sync's state file.
    state: Value,
}

/// One sync from `state`; what it emitted and the state it ended with. Keeps some ids per stream
/// for the changes.
fn sync(
    connector: &Connector,
    files: &ReadFiles,
    state: Option<&Value>,
    ids: &mut BTreeMap<String, Vec<i64>>,
) -> Result<Synced> {
    let mut read = ReadFiles {
        config: files.config.clone(),
        catalog: files.catalog.clone(),
        state: None,
        messages: files.messages.clone(),
        stderr: files.stderr.clone(),
    };
    if let (Some(state), Some(path)) = (state, &files.state) {
        write_json(path, state)?;
        read.state = Some(path.clone());
    }
    let mut states: BTreeMap<String, Value> = BTreeMap::new();
    let mut records = 0;
    let mut largest_state = 0;
    let mut largest_state_stream = String::new();
    let (mut n_states, mut states_bytes) = (0, 0);
    let started = Instant::now();
    connector.read(&read, |m| match m["type"].as_str() {
        Some("RECORD") => {
            records += 1;
            let stream = m["record"]["stream"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(id) = m["record"]["data"]["id"].as_i64() {
                let kept = ids.entry(stream).or_default();
                if kept.len() < KEPT_IDS {
                    kept.push(id);
                }
            }
        }
        Some("STATE") => {
            let name = m["state"]["stream"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap_or_default();
            let bytes = m.to_string().len();
            n_states += 1;
            states_bytes += bytes;
            if bytes > largest_state {
                largest_state = bytes;
                largest_state_stream = name.to_string();
            }
            states.insert(name.to_string(), m["state"].clone());
        }
        _ => {}
    })?;
    Ok(Synced {
        records,
        largest_state,
        largest_state_stream,
        states: n_states,
        states_bytes,
        wall: started.elapsed().as_secs_f64(),
        state: json!(states.into_values().collect::<Vec<_>>()),
    })
}

/// What the emulator counted since its counts were reset, for the sync `label` of a series in
/// `setting`.
fn cost_of(emu: &Emulator, synced: &Synced, setting: Setting, label: &'static str) -> SyncCost {
    let counts = emu.request_counts();
    let (mut general, mut reports, mut children) = (0, 0, 0);
    for (path, n) in &counts.by_path {
        if path.starts_with("/v2/reports/") {
            reports += n;
        } else {
            general += n;
        }
        if path.contains("{id}") {
            children += n;
        }
    }
    SyncCost {
        sync: label,
        requests: general + reports,
        general,
        reports,
        child_requests: children,
        records: synced.records,
        largest_state_bytes: synced.largest_state,
        states: synced.states,
        states_bytes: synced.states_bytes,
        seconds_at_harvest_limit: at_harvest_limit(general, reports),
        wall_seconds_unlimited: synced.wall,
        child_sweep_hours: setting.sweep,
        capture_deletions: setting.capture,
        scale: format!("{:?}", setting.scale),
        requests_by_path: counts.by_path,
    }
}

/// `n` changes of the kinds Harvest sees, round robin from the `from`th: entities edited, a
/// payment recorded (it updates its invoice), an invoice sent (a message that updates it), a
/// plain message that does not, a task assignment's rate (it changes users' project
/// assignments, not them).
fn change(emu: &Emulator, ids: &BTreeMap<String, Vec<i64>>, from: usize, n: usize) {
    let pick = |stream: &str, i: usize| {
        ids.get(stream)
            .and_then(|v| v.get(i % v.len().max(1)))
            .copied()
    };
    for i in from..from + n {
        match i % 6 {
            0 => pick("time_entries", i)
                .map(|id| emu.update("time_entries", id, json!({"notes": format!("edit {i}")}))),
            1 => pick("clients", i)
                .map(|id| emu.update("clients", id, json!({"name": format!("Client {i}")}))),
            2 => pick("invoices", i).map(|id| {
                Some(emu.create("invoice_payments", json!({"parent_id": id, "amount": 1.0})))
            }),
            3 => pick("invoices", i).map(|id| {
                Some(emu.create(
                    "invoice_messages",
                    json!({"parent_id": id, "event_type": "send"}),
                ))
            }),
            4 => pick("invoices", i).map(|id| {
                Some(emu.create(
                    "invoice_messages",
                    json!({"parent_id": id, "bump_parent": false}),
                ))
            }),
            _ => pick("task_assignments", i).map(|id| {
                emu.update(
                    "task_assignments",
                    id,
                    json!({"hourly_rate": 100.0 + i as f64}),
                )
            }),
        };
    }
}
