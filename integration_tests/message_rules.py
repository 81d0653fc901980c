"""What makes one stdout line a valid Airbyte message (protocol 0.18, the parts we emit).

The CDK's parser is lenient (it coerces and ignores), and its entrypoint recomputes
`sourceStats.recordCount`, so a wrong type or count from the binary would pass the standard tests
unnoticed. These rules follow the protocol's JSON Schema and the pairing the schema leaves to
validators: `type` names the one payload field that is set.
"""

from __future__ import annotations

import json
from typing import Any

PAYLOAD = {
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "TRACE": "trace",
    "CONTROL": "control",
}
LOG_LEVELS = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"}
STATUSES = {"STARTED", "RUNNING", "COMPLETE", "INCOMPLETE"}
FAILURE_TYPES = {"system_error", "config_error", "transient_error"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _record(r: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(r.get("stream"), str):
        problems.append("record.stream must be a string")
    if not isinstance(r.get("data"), dict):
        problems.append("record.data must be an object")
    if not _is_int(r.get("emitted_at")):
        problems.append("record.emitted_at must be an integer (epoch ms)")
    return problems


def _state(s: dict[str, Any]) -> list[str]:
    if s.get("type") != "STREAM":
        return [f"state.type must be STREAM, got {s.get('type')!r}"]
    problems = []
    stream = s.get("stream") or {}
    if not isinstance((stream.get("stream_descriptor") or {}).get("name"), str):
        problems.append("state.stream.stream_descriptor.name must be a string")
    if not isinstance(stream.get("stream_state"), dict):
        problems.append("state.stream.stream_state must be an object")
    if not _is_number((s.get("sourceStats") or {}).get("recordCount")):
        problems.append("state.sourceStats.recordCount must be a number")
    return problems


def _trace(t: dict[str, Any]) -> list[str]:
    problems = [] if _is_number(t.get("emitted_at")) else ["trace.emitted_at must be a number"]
    kind = t.get("type")
    if kind == "STREAM_STATUS":
        status = t.get("stream_status") or {}
        if status.get("status") not in STATUSES:
            problems.append(f"trace.stream_status.status {status.get('status')!r} is not a status")
        if not isinstance((status.get("stream_descriptor") or {}).get("name"), str):
            problems.append("trace.stream_status.stream_descriptor.name must be a string")
        if "reasons" in status:
            problems += _reasons(status)
    elif kind == "ERROR":
        error = t.get("error") or {}
        if not isinstance(error.get("message"), str):
            problems.append("trace.error.message must be a string")
        if error.get("failure_type") not in FAILURE_TYPES | {None}:
            problems.append(f"trace.error.failure_type {error.get('failure_type')!r} is unknown")
    elif kind == "ESTIMATE":
        if not isinstance((t.get("estimate") or {}).get("name"), str):
            problems.append("trace.estimate.name must be a string")
    elif kind != "ANALYTICS":
        problems.append(f"trace.type {kind!r} is unknown")
    return problems


def _reasons(status: dict[str, Any]) -> list[str]:
    """A stream status's `reasons`: the platform reads one RATE_LIMITED reason with its
    `quota_reset` (epoch ms), and only a running stream waits."""
    reasons = status["reasons"]
    if status.get("status") != "RUNNING":
        return [f"trace.stream_status.reasons on a {status.get('status')!r} status"]
    if not isinstance(reasons, list) or len(reasons) != 1:
        return ["trace.stream_status.reasons must be a list of one reason"]
    reason = reasons[0] if isinstance(reasons[0], dict) else {}
    if reason.get("type") != "RATE_LIMITED":
        return [f"trace.stream_status.reasons[0].type {reason.get('type')!r} is not RATE_LIMITED"]
    if not _is_int((reason.get("rate_limited") or {}).get("quota_reset")):
        return ["trace.stream_status.reasons[0].rate_limited.quota_reset must be an integer (epoch ms)"]
    return []


def _log(entry: dict[str, Any]) -> list[str]:
    problems = []
    if entry.get("level") not in LOG_LEVELS:
        problems.append(f"log.level {entry.get('level')!r} is unknown")
    if not isinstance(entry.get("message"), str):
        problems.append("log.message must be a string")
    return problems


CHECKS = {"RECORD": _record, "STATE": _state, "TRACE": _trace, "LOG": _log}


def line_problems(line: str) -> list[str]:
    """Everything wrong with one stdout line; empty when it is a valid message."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError as error:
        return [f"not JSON: {error}"]
    if not isinstance(message, dict):
        return ["not a JSON object"]
    kind = message.get("type")
    if kind not in PAYLOAD:
        return [f"type {kind!r} is not a message type"]
    payload = message.get(PAYLOAD[kind])
    problems = [] if isinstance(payload, dict) else [f"{kind} without an object `{PAYLOAD[kind]}`"]
    others = [key for key in PAYLOAD.values() if key != PAYLOAD[kind] and message.get(key) is not None]
    if others:
        problems.append(f"{kind} also sets {others}")
    if isinstance(payload, dict) and kind in CHECKS:
        problems += CHECKS[kind](payload)
    return problems
