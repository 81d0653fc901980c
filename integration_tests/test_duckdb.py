"""A real destination (issue 16, point 2): PyAirbyte syncs the binary into DuckDB four times,
incrementally, while the account changes in between (through the emulator's control API, its
clock an hour later each time). After the last sync, DuckDB's deduplicated tables hold exactly the
records Harvest serves, each as of its latest `updated_at`, and each record Harvest deleted is a
tombstone row (`_ab_cdc_deleted_at` set), which PyAirbyte's cache keeps as a row.

The test runs its own emulator (EMULATOR_EXE, from acceptance.sh), so its changes do not touch the
emulator the other checks compare against.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

# Before importing airbyte: no registry lookups and no telemetry (the suite runs offline).
os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"

import airbyte as ab  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
TOKEN = "1000001.pt.emulator-personal-access-token"
# Entity streams and child streams (children keyed by parent under their own path).
PARENTS = {"invoice_payments": "invoices", "invoice_messages": "invoices",
           "estimate_messages": "estimates"}
STREAMS = ["clients", "contacts", "estimates", "expenses", "invoices", "projects", "tasks",
           "time_entries", "user_assignments", "task_assignments", "users", *PARENTS]
# Report streams, keyed by subject, currency and window: summed in DuckDB, they must give
# Harvest's reports. Every window is read again by every sync (the changes delete old time).
REPORTS = {"time_projects": ("/reports/time/projects", "project_id"),
           "expenses_clients": ("/reports/expenses/clients", "client_id")}
SYNCS = 4


class Emulator:
    """A harvest-emulator process on a free port, stopped by `close`."""

    def __init__(self) -> None:
        exe = os.environ["EMULATOR_EXE"]
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--scale", "tiny", "--seed", "42", "--no-limits"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.startswith("listening on "), f"the emulator did not start: {line!r}"
        self.url = line.split()[-1]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/__emulator{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def now(self) -> str:
        """The emulator's clock, `YYYY-MM-DDTHH:MM:SSZ`."""
        return self.control("GET", "/clock")["now"]

    def all(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every record of a list, page by page, without updated_since."""
        out: list[dict[str, Any]] = []
        url: str | None = f"{self.url}/v2{path}"
        while url:
            req = urllib.request.Request(url, headers={
                "Authorization": f"Bearer {TOKEN}", "Harvest-Account-Id": "1000001",
                "User-Agent": "acceptance (tests@example.com)"})
            with urllib.request.urlopen(req, timeout=30) as r:
                page = json.loads(r.read())
            out += page[key]
            url = page["links"]["next"]
        return out

    def records(self, stream: str) -> list[dict[str, Any]]:
        parent = PARENTS.get(stream)
        if parent is None:
            return self.all(f"/{stream}", stream)
        path = stream.split("_", 1)[1]
        return [r for p in self.all(f"/{parent}", parent)
                for r in self.all(f"/{parent}/{p['id']}/{path}", stream)]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    yield emu
    emu.close()


def change(emu: Emulator, round_: int, deleted: set[tuple[str, int]]) -> int:
    """One round of changes in several streams; returns how many were made."""
    entries = emu.records("time_entries")
    clients = emu.records("clients")
    invoices = emu.records("invoices")
    users = emu.records("users")
    made = [
        emu.control("POST", "/records/time_entries", {"hours": 1.5, "notes": f"round {round_}"}),
        emu.control("PATCH", f"/records/time_entries/{entries[-1 - round_]['id']}",
                    {"notes": f"changed in round {round_}"}),
        emu.control("PATCH", f"/records/clients/{clients[round_ % len(clients)]['id']}",
                    {"address": f"{round_} DuckDB Street"}),
        emu.control("PATCH", f"/records/users/{users[round_ % len(users)]['id']}",
                    {"telephone": f"555-000{round_}"}),
        # A payment bumps its invoice: both arrive in the next sync.
        emu.control("POST", "/records/invoice_payments",
                    {"parent_id": invoices[round_ % len(invoices)]["id"], "amount": 10.0}),
        emu.control("POST", "/records/contacts", {"title": f"Contact of round {round_}"}),
    ]
    gone = entries[round_]["id"]
    assert emu.control("DELETE", f"/records/time_entries/{gone}")["deleted"] is True
    deleted.add(("time_entries", gone))
    emu.control("POST", "/clock", {"advance_seconds": 3600})
    return len(made) + 1


def grid(start: str, today: str) -> Iterator[tuple[str, str]]:
    """The connector's report windows: 365 days each from the start date, up to today's."""
    day, last = date.fromisoformat(start), date.fromisoformat(today)
    while day <= last:
        end = day + timedelta(days=364)
        yield day.strftime("%Y%m%d"), end.strftime("%Y%m%d")
        day = end + timedelta(days=1)


def stamp(value: Any) -> str:
    """A DuckDB timestamp (naive means UTC) as Harvest writes one."""
    t = pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_four_incremental_syncs_into_duckdb_keep_exactly_harvests_records(
    tmp_path: Path, emulator: Emulator
) -> None:
    config = json.loads((HERE / "sample_config.json").read_text())
    config["api_url"] = f"{emulator.url}/v2"
    config["oauth_token_url"] = f"{emulator.url}/id/api/v2/oauth2/token"
    config.update(window_seconds=1, requests_per_window=1000, report_window_seconds=1,
                  report_requests_per_window=1000, report_lookback_days=3650)
    source = ab.get_source("source-harvest", local_executable=os.environ["CONNECTOR_EXE"],
                           config=config)
    source.select_streams([*STREAMS, *REPORTS])
    cache = ab.new_local_cache("source_harvest_duckdb", cache_dir=tmp_path / "cache")

    deleted: set[tuple[str, int]] = set()
    mutations = 0
    processed = []
    for round_ in range(SYNCS):
        result = source.read(cache=cache)
        processed.append(result.processed_records)
        if round_ < SYNCS - 1:
            mutations += change(emulator, round_, deleted)

    # Later syncs read what changed, not the account again.
    assert all(n < processed[0] / 4 for n in processed[1:]), processed
    compared = 0
    for stream in STREAMS:
        served = {r["id"]: r for r in emulator.records(stream)}
        table = cache[stream].to_pandas()
        assert table["id"].is_unique, f"{stream}: DuckDB holds a record twice"
        # PyAirbyte's cache keeps a tombstone as a row: the records Harvest deleted are those
        # with _ab_cdc_deleted_at set, and the others are exactly Harvest's.
        gone = table["_ab_cdc_deleted_at"].notna()
        held = {int(row["id"]): row for _, row in table[~gone].iterrows()}
        tombstoned = {int(i) for i in table[gone]["id"]}
        kept = {i for (s, i) in deleted if s == stream}
        assert set(held) == set(served), (
            f"{stream}: DuckDB has {sorted(set(held) - set(served))[:5]} extra, "
            f"lacks {sorted(set(served) - set(held))[:5]}")
        assert tombstoned == kept, (
            f"{stream}: tombstones for {sorted(tombstoned - kept)[:5]} not deleted, "
            f"none for deleted {sorted(kept - tombstoned)[:5]}")
        for id_, record in served.items():
            assert stamp(held[id_]["updated_at"]) == record["updated_at"], (
                f"{stream} {id_}: DuckDB has it as of {held[id_]['updated_at']}, "
                f"Harvest as of {record['updated_at']}")
            compared += 1
    rows = 0
    for stream, (path, subject) in REPORTS.items():
        served = {}
        for start, end in grid(config["replication_start_date"][:10], emulator.now()[:10]):
            for r in emulator.all(f"{path}?from={start}&to={end}", "results"):
                served[(r[subject], r["currency"], start, end)] = r
        assert served, f"{stream}: Harvest has rows"
        table = cache[stream].to_pandas()
        live = table[table["_ab_cdc_deleted_at"].isna()]
        held = {(int(r[subject]), r["currency"], r["from"], r["to"]): r for _, r in live.iterrows()}
        assert len(held) == len(live), f"{stream}: DuckDB holds a row twice"
        assert set(held) == set(served), (
            f"{stream}: DuckDB has {sorted(set(held) - set(served))[:3]} extra, "
            f"lacks {sorted(set(served) - set(held))[:3]}")
        total = "total_hours" if stream.startswith("time") else "total_amount"
        for key, r in served.items():
            assert round(float(held[key][total]), 2) == round(r[total], 2), f"{stream} {key}"
        assert round(sum(float(r[total]) for r in held.values()), 2) == round(
            sum(r[total] for r in served.values()), 2), f"{stream}: sums to Harvest's report"
        rows += len(served)
    notes = cache["time_entries"].to_pandas().set_index("id")["notes"]
    for round_ in range(SYNCS - 1):
        assert f"changed in round {round_}" in set(notes.dropna()), f"round {round_}'s change"
    print(f"DuckDB: {SYNCS} syncs, {mutations} changes, {compared} records compared "
          f"({len(deleted)} deleted, each a tombstone), {rows} report rows compared, "
          f"records per sync {processed}")
