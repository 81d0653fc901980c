//! Clocks (issue 22 point 5): Harvest's clock hours behind or ahead of ours, or answers without
//! a `Date` header. Watermarks come from Harvest's clock when it says it (our own otherwise), and
//! report windows from Harvest's day, so in each case an incremental sync after changes returns
//! exactly what changed (the generated records are all older than the overlap), the destination
//! then holds what Harvest serves, report windows included, and (once Harvest's clock is past
//! the overlap) the sync after that reads nothing again. Without a `Date` header the watermark
//! is this machine's clock, whose overlap re-reads what changed in the five minutes before.
//! A state is in the future only by Harvest's clock: ahead of ours, it warns of nothing.

use std::collections::BTreeSet;

use harvest_emulator::Scale;
use serde_json::{json, Value};

use crate::common::*;
use crate::resilience::{assert_same_records, keyed, replica, union};

const ENTITIES: [&str; 3] = ["clients", "time_entries", "invoices"];

fn ids(records: &[Value]) -> BTreeSet<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// Two syncs with changes between them, Harvest's clock `skew_hours` from ours.
fn changes_arrive_once(skew_hours: i64, date_header: bool) {
    let emu = emulator(Scale::Tiny);
    emu.set_date_header(date_header);
    emu.advance_clock(skew_hours * 3600);
    let streams: Vec<&str> = ENTITIES.into_iter().chain(["time_projects"]).collect();
    let input = ReadInput::new(&config(&emu, json!({})), &streams, "incremental");
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let what = format!("Harvest {skew_hours:+} h, Date header {date_header}");
    assert_same_records(
        &format!("{what}: first sync"),
        &keyed(&first.messages),
        &crate::truth::harvest(&emu, &streams),
    );

    let client = first.stream("clients")[0]["id"].as_i64().unwrap();
    // Not its name, which Harvest copies into invoices without bumping them.
    emu.update("clients", client, json!({"is_active": false}));
    let entry = emu.create("time_entries", json!({"hours": 3.25}));
    if date_header {
        // Past the overlap by Harvest's clock: the sync after next must not read them again.
        emu.advance_clock(600);
    }
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    // The state is Harvest's time, after ours when Harvest's clock is ahead: not the future.
    assert!(
        !second.logs().contains("is in the future"),
        "{what}: {}",
        second.logs()
    );
    assert_eq!(
        ids(&second.stream("clients")),
        BTreeSet::from([client]),
        "{what}"
    );
    assert_eq!(
        ids(&second.stream("time_entries")),
        BTreeSet::from([entry["id"].as_i64().unwrap()]),
        "{what}"
    );
    assert!(second.stream("invoices").is_empty(), "{what}");
    // The new hours are in the report window holding Harvest's day, whatever ours is.
    let destination = replica(union(keyed(&first.messages), keyed(&second.messages)));
    assert_same_records(
        &format!("{what}: after the changes"),
        &destination,
        &crate::truth::harvest(&emu, &streams),
    );
    if date_header {
        let third = input.read(Some(&second.final_state()));
        assert_eq!(third.code, 0, "{}", third.logs());
        for stream in ENTITIES {
            assert!(
                third.stream(stream).is_empty(),
                "{what}: {stream} read again"
            );
        }
    }
}

#[test]
fn harvests_clock_hours_behind_ours_skips_nothing_and_repeats_nothing() {
    changes_arrive_once(-9, true);
}

#[test]
fn harvests_clock_hours_ahead_of_ours_skips_nothing_and_repeats_nothing() {
    changes_arrive_once(9, true);
}

#[test]
fn answers_without_a_date_header_skip_nothing_and_repeat_nothing() {
    changes_arrive_once(0, false);
}

/// The emulator's clock moved to `at` (`YYYY-MM-DDTHH:MM:SSZ`), forward only.
fn move_clock_to(emu: &harvest_emulator::Emulator, at: &str) {
    let instant = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    let by = instant(at) - instant(&emu.now());
    assert!(by >= 0, "{at} is ahead of the emulator's clock");
    emu.advance_clock(by);
}

#[test]
fn report_windows_follow_harvests_day_across_the_29th_of_february_and_dst_changes() {
    let emu = emulator(Scale::Tiny);
    let streams = ["time_projects", "time_team"];
    let input = ReadInput::new(&config(&emu, json!({})), &streams, "incremental");
    let mut destination = crate::resilience::Keyed::new();
    let mut state: Option<Value> = None;
    // Half an hour before midnight (UTC, Harvest's `Date`): a leap day, and the days around the
    // US and EU changes to summer time of 2028, which do not move a UTC day.
    for day in [
        "2028-02-28",
        "2028-02-29",
        "2028-03-01",
        "2028-03-11",
        "2028-03-12",
        "2028-03-13",
        "2028-03-25",
        "2028-03-26",
        "2028-03-27",
    ] {
        move_clock_to(&emu, &format!("{day}T23:30:00Z"));
        let entry = emu.create("time_entries", json!({"hours": 1.25}));
        assert_eq!(entry["spent_date"], day, "Harvest's day");
        let run = input.read(state.as_ref());
        assert_eq!(run.code, 0, "{}", run.logs());
        destination = replica(union(destination, keyed(&run.messages)));
        assert_same_records(
            &format!("after the sync of {day}"),
            &destination,
            &crate::truth::harvest(&emu, &streams),
        );
        for stream in streams {
            assert_eq!(
                run.final_stream_states()[stream]["to"],
                day.replace('-', ""),
                "{stream}: the state holds Harvest's day"
            );
        }
        state = Some(run.final_state());
    }
}
