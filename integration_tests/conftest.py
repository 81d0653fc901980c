"""Fixtures of our own acceptance checks: the binary, its config and the reads they share.

acceptance.sh provides CONNECTOR_EXE (the release binary) and renders secrets/config.json with the
running emulator's port. Each read is run once per session and shared by the checks that look at
it, so the whole suite costs a handful of connector runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SECRETS = HERE / "secrets"


@dataclass
class Read:
    """One `read` run: its raw stdout lines, the parsed messages and its exit code."""

    name: str
    catalog: dict[str, Any]
    lines: list[str]
    code: int
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = [json.loads(line) for line in self.lines]

    @property
    def streams(self) -> list[str]:
        return [s["stream"]["name"] for s in self.catalog["streams"]]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream]

    def states(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["state"]
            for m in self.of_type("STATE")
            if m["state"]["stream"]["stream_descriptor"]["name"] == stream
        ]

    def final_states(self) -> list[dict[str, Any]]:
        """The last STATE of every stream, as a state file for the next read."""
        return [
            {"type": "STREAM", "stream": states[-1]["stream"]}
            for stream in self.streams
            if (states := self.states(stream))
        ]


def run_read(name: str, catalog_path: Path, state: list[dict[str, Any]] | Path | None) -> Read:
    """Runs `read` like the platform does and keeps everything it printed."""
    args = [os.environ["CONNECTOR_EXE"], "read", "--config", str(SECRETS / "config.json")]
    args += ["--catalog", str(catalog_path)]
    if isinstance(state, list):
        state_path = SECRETS / f"state_{name}.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    elif state is not None:
        args += ["--state", str(state)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    read = Read(
        name=name,
        catalog=json.loads(catalog_path.read_text()),
        lines=[line for line in done.stdout.splitlines() if line.strip()],
        code=done.returncode,
        stderr=done.stderr,
    )
    assert read.code == 0, f"read `{name}` exited {read.code}: {done.stderr[-2000:]}"
    return read


@pytest.fixture(scope="session")
def full_refresh_reads() -> tuple[Read, Read]:
    catalog = HERE / "configured_catalog.json"
    return run_read("full_refresh_1", catalog, None), run_read("full_refresh_2", catalog, None)


@pytest.fixture(scope="session")
def incremental_reads() -> tuple[Read, Read]:
    catalog = HERE / "incremental_catalog.json"
    first = run_read("incremental_1", catalog, [])
    return first, run_read("incremental_2", catalog, first.final_states())


@pytest.fixture(scope="session")
def abnormal_read() -> Read:
    return run_read("abnormal", HERE / "incremental_catalog.json", HERE / "abnormal_state.json")


@pytest.fixture(scope="session")
def all_reads(full_refresh_reads, incremental_reads, abnormal_read) -> list[Read]:
    return [*full_refresh_reads, *incremental_reads, abnormal_read]
