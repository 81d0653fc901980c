"""PyAirbyte, as a data engineer would run it: the binary as a local executable, offline, into
DuckDB, twice. PyAirbyte configures every stream as incremental (even those without a cursor)
and passes its saved state back on the second read; report streams read their look-back again.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Before importing airbyte: no registry lookups and no telemetry (the suite runs offline).
os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"

import airbyte as ab  # noqa: E402

from conftest import SECRETS, Read  # noqa: E402

FULL_REFRESH_ONLY = {"company", "project_budget", "billable_rates", "cost_rates", "user_teammates"}


def test_pyairbyte_reads_every_stream_into_duckdb_then_only_changes(
    tmp_path: Path, full_refresh_reads: tuple[Read, Read]
) -> None:
    source = ab.get_source(
        "source-harvest",
        local_executable=os.environ["CONNECTOR_EXE"],
        config=json.loads((SECRETS / "config.json").read_text()),
    )
    source.check()
    source.select_all_streams()
    cache = ab.new_local_cache("source_harvest_acceptance", cache_dir=tmp_path / "cache")

    first = source.read(cache=cache)
    read = full_refresh_reads[0]
    counts = {name: len(dataset) for name, dataset in first.streams.items()}
    expected = {name: len(read.records(name)) for name in read.streams}
    assert counts == expected

    # The account did not change: only the streams without a cursor are read again, and the
    # report windows of the look-back (62 days, by the emulator's clock, which is this
    # machine's here), whose rows replace the same rows in the cache.
    second = source.read(cache=cache)
    look_back = (datetime.now(timezone.utc).date() - timedelta(days=62)).strftime("%Y%m%d")
    windows = sum(
        1 for name in read.streams for r in read.records(name) if r["data"].get("to", "") >= look_back
    )
    assert windows, "report rows in the look-back"
    again = sum(expected[name] for name in FULL_REFRESH_ONLY) + windows
    assert second.processed_records == again
    assert {name: len(dataset) for name, dataset in second.streams.items()} == expected
