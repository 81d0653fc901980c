"""Our acceptance checks of what airbyte-cdk's standard tests leave out.

The standard tests read once, in full refresh, through the CDK (which recomputes record counts
and tolerates loose types). These read the binary's raw output: every line, incremental reads
with state, the abnormal state, repeatability, record counts on STATE, and stream statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

from conftest import Read
from message_rules import line_problems

HERE = Path(__file__).resolve().parent


def test_every_line_is_a_valid_airbyte_message(all_reads: list[Read]) -> None:
    problems = [
        f"{read.name} line {i + 1}: {p}: {line[:200]}"
        for read in all_reads
        for i, line in enumerate(read.lines)
        for p in line_problems(line)
    ]
    assert not problems, "\n".join(problems[:20])


def test_records_match_their_stream_schema(all_reads: list[Read]) -> None:
    problems = []
    for read in all_reads:
        schemas = {s["stream"]["name"]: s["stream"]["json_schema"] for s in read.catalog["streams"]}
        for record in read.of_type("RECORD"):
            stream = record["record"]["stream"]
            assert stream in schemas, f"{read.name}: record of unconfigured stream {stream}"
            validator = jsonschema.Draft7Validator(schemas[stream])
            problems += [f"{read.name} {stream}: {e.message}" for e in validator.iter_errors(record["record"]["data"])]
    assert not problems, "\n".join(problems[:20])


def test_state_record_count_is_records_since_previous_state(all_reads: list[Read]) -> None:
    problems = []
    for read in all_reads:
        since: dict[str, int] = defaultdict(int)
        for message in read.messages:
            if message["type"] == "RECORD":
                since[message["record"]["stream"]] += 1
            elif message["type"] == "STATE":
                stream = message["state"]["stream"]["stream_descriptor"]["name"]
                count = message["state"]["sourceStats"]["recordCount"]
                if count != since[stream]:
                    problems.append(f"{read.name} {stream}: recordCount {count}, records {since[stream]}")
                since[stream] = 0
        # A STATE covers the records before it: none may come after a stream's last STATE.
        problems += [f"{read.name} {s}: {n} records after its last STATE" for s, n in since.items() if n]
    assert not problems, "\n".join(problems[:20])


def test_every_stream_ends_with_a_state(all_reads: list[Read]) -> None:
    for read in all_reads:
        missing = [s for s in read.streams if not read.states(s)]
        assert not missing, f"{read.name}: no STATE for {missing}"


def _statuses(read: Read) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, message in enumerate(read.messages):
        if message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
            status = message["trace"]["stream_status"]
            found[status["stream_descriptor"]["name"]].append((i, status["status"]))
    return found


def test_stream_statuses_started_running_complete(all_reads: list[Read]) -> None:
    problems = []
    for read in all_reads:
        statuses = _statuses(read)
        for stream in read.streams:
            sequence = [s for _, s in statuses.get(stream, [])]
            collapsed = [s for i, s in enumerate(sequence) if i == 0 or s != sequence[i - 1]]
            records = [i for i, m in enumerate(read.messages) if m["type"] == "RECORD" and m["record"]["stream"] == stream]
            expected = [["STARTED", "RUNNING", "COMPLETE"]] if records else [["STARTED", "RUNNING", "COMPLETE"], ["STARTED", "COMPLETE"]]
            if collapsed not in expected:
                problems.append(f"{read.name} {stream}: statuses {sequence}")
                continue
            running = next(i for i, s in statuses[stream] if s == "RUNNING") if records else None
            if records and running > records[0]:
                problems.append(f"{read.name} {stream}: RUNNING after its first record")
    assert not problems, "\n".join(problems[:20])


def _canonical(read: Read, stream: str) -> list[str]:
    return sorted(json.dumps(r["data"], sort_keys=True) for r in read.records(stream))


def test_full_refresh_twice_gives_identical_records(full_refresh_reads: tuple[Read, Read]) -> None:
    first, second = full_refresh_reads
    assert first.of_type("RECORD"), "the full refresh read returned no records"
    differ = [s for s in first.streams if _canonical(first, s) != _canonical(second, s)]
    assert not differ, f"streams whose records differ between two full refreshes: {differ}"


def test_full_refresh_reads_every_stream(full_refresh_reads: tuple[Read, Read]) -> None:
    empty = [s for s in full_refresh_reads[0].streams if not full_refresh_reads[0].records(s)]
    assert not empty, f"streams without records on the emulator: {empty}"


def test_second_incremental_read_returns_only_changes(incremental_reads: tuple[Read, Read]) -> None:
    first, second = incremental_reads
    assert first.of_type("RECORD"), "the first incremental read returned no records"
    # The emulator does not change between the reads, so there is nothing new to return; report
    # streams read their look-back's windows again, which must hold the same rows as before.
    windowed = {s["stream"]["name"] for s in second.catalog["streams"] if s.get("cursor_field") == ["to"]}
    assert windowed, "the incremental catalog has report streams"
    again = {s: len(second.records(s)) for s in second.streams if second.records(s) and s not in windowed}
    assert not again, f"the second incremental read returned records again: {again}"
    changed = [s for s in windowed if not set(_canonical(second, s)) <= set(_canonical(first, s))]
    assert not changed, f"report windows read again hold other rows than the first read's: {changed}"
    reread = [s for s in windowed if second.records(s)]
    assert reread, "report streams read their look-back again"
    missing = [s for s in second.streams if not second.states(s)]
    assert not missing, f"the second incremental read emitted no STATE for {missing}"


def test_abnormal_state_returns_no_records(abnormal_read: Read) -> None:
    records = {s: len(abnormal_read.records(s)) for s in abnormal_read.streams if abnormal_read.records(s)}
    assert not records, f"records despite cursors in year 2217: {records}"
    missing = [s for s in abnormal_read.streams if not abnormal_read.states(s)]
    assert not missing, f"no STATE for {missing}"


def test_expected_records_are_read(full_refresh_reads: tuple[Read, Read]) -> None:
    read = full_refresh_reads[0]
    keys = {s["stream"]["name"]: s["stream"].get("source_defined_primary_key") or [] for s in read.catalog["streams"]}
    expected = [json.loads(line) for line in (HERE / "expected_records.jsonl").read_text().splitlines() if line.strip()]
    assert expected, "expected_records.jsonl is empty"
    problems = []
    for record in expected:
        stream, data = record["stream"], record["data"]
        key = [path[0] for path in keys[stream]]
        actual = [r["data"] for r in read.records(stream) if all(r["data"].get(k) == data.get(k) for k in key)]
        if data not in actual:
            problems.append(f"{stream} {({k: data.get(k) for k in key})}: not read as expected")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("name", ["configured_catalog.json", "incremental_catalog.json"])
def test_catalog_files_match_discover(name: str) -> None:
    # Keeps the committed catalogs honest: every stream they name still exists with that schema.
    out = subprocess.run(
        [os.environ["CONNECTOR_EXE"], "discover", "--config", str(HERE / "secrets" / "config.json")],
        capture_output=True, text=True, check=True,
    ).stdout
    discovered = {s["name"]: s for m in map(json.loads, out.splitlines()) if m["type"] == "CATALOG" for s in m["catalog"]["streams"]}
    for configured in json.loads((HERE / name).read_text())["streams"]:
        stream = configured["stream"]
        assert stream["name"] in discovered, f"{name}: {stream['name']} is not discovered"
        assert stream == discovered[stream["name"]], f"{name}: {stream['name']} differs from discover"
        assert configured["sync_mode"] in discovered[stream["name"]]["supported_sync_modes"]
