"""The platform sees waiting (issue 22, point 8): a stream held by Harvest's 429 and its
`Retry-After` emits STREAM_STATUS RUNNING with a RATE_LIMITED reason and the quota's reset time,
then RUNNING again, and every line of that read is an AirbyteMessage the protocol's own models
(airbyte-cdk's serializer, which validates against the protocol's schema) accept.

The test runs its own emulator (EMULATOR_EXE, from acceptance.sh), throttling half the requests
to /v2/clients with seeded draws, so the same requests get a 429 on every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    AirbyteStreamStatus,
    AirbyteStreamStatusReasonType,
    Type,
)

from message_rules import line_problems

HERE = Path(__file__).resolve().parent
TOKEN = "1000001.pt.emulator-personal-access-token"


def test_a_throttled_stream_is_running_rate_limited_with_its_reset(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [os.environ["EMULATOR_EXE"], "--port", "0", "--scale", "tiny", "--no-limits",
         "--faults", "429", "--fault-rate", "0.5", "--fault-seed", "5",
         "--fault-paths", "/v2/clients"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = emulator.stdout.readline() if emulator.stdout else ""
        assert line.startswith("listening on "), f"the emulator did not start: {line!r}"
        url = line.split()[-1]
        config = {
            "account_id": "1000001",
            "replication_start_date": "2024-01-01T00:00:00Z",
            "credentials": {"auth_type": "Token", "api_token": TOKEN},
            "api_url": f"{url}/v2",
            "page_size": 1,
            "max_retries": 8,
        }
        catalog = json.loads((HERE / "configured_catalog.json").read_text())
        catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] == "clients"]
        assert catalog["streams"], "the configured catalog has clients"
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        done = subprocess.run(
            [os.environ["CONNECTOR_EXE"], "read", "--config", str(tmp_path / "config.json"),
             "--catalog", str(tmp_path / "catalog.json")],
            capture_output=True, text=True, timeout=300, check=False,
        )
        with urllib.request.urlopen(f"{url}/__emulator/requests", timeout=30) as answer:
            throttled = json.loads(answer.read())["faults"].get("429", 0)
    finally:
        emulator.kill()
        emulator.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    problems = [f"line {i + 1}: {p}" for i, line in enumerate(lines) for p in line_problems(line)]
    assert not problems, "\n".join(problems[:20])
    # The protocol's models: a reason of another type, or a reset that is not an integer, fails.
    messages = [AirbyteMessageSerializer.load(json.loads(line)) for line in lines]
    statuses = [m.trace.stream_status for m in messages
                if m.type == Type.TRACE and m.trace.stream_status is not None]
    limited = [s for s in statuses if s.reasons]
    assert throttled > 0, "the emulator throttled no request"
    # One request at a time (one list, full refresh): each 429 is one wait, said once.
    assert len(limited) == throttled, f"{len(limited)} RATE_LIMITED statuses for {throttled} 429s"
    for status in limited:
        assert status.status == AirbyteStreamStatus.RUNNING
        assert [r.type for r in status.reasons] == [AirbyteStreamStatusReasonType.RATE_LIMITED]
        assert isinstance(status.reasons[0].rate_limited.quota_reset, int)
    # Each wait ends in a plain RUNNING before the stream completes.
    shown = ["RATE_LIMITED" if s.reasons else s.status.value for s in statuses]
    assert shown[0] == "STARTED" and shown[-1] == "COMPLETE", shown
    for i, status in enumerate(shown):
        if status == "RATE_LIMITED":
            assert shown[i + 1] == "RUNNING", shown
    records = [m for m in messages if m.type == Type.RECORD]
    assert records, "the read returned the emulator's clients"
