"""A CDK `Source` that is the source-harvest binary, run as a subprocess.

airbyte-cdk's standard tests (`SourceTestSuiteBase`) drive a Python `Source` in-process. This
adapter lets them drive our Rust binary instead: each verb runs `$CONNECTOR_EXE` with the same
arguments the platform would pass and hands its messages back unchanged. The catalog and state
files are passed through as paths, never re-serialized, so the binary itself sees (and must reject)
whatever the tests write, including deliberately invalid catalogs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    FailureType,
    Type,
)
from airbyte_cdk.sources import Source
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


def connector_exe() -> str:
    """The binary under test; acceptance.sh sets it to the release build."""
    return os.environ["CONNECTOR_EXE"]


def parse_line(line: str) -> AirbyteMessage:
    """One stdout line as a protocol message; anything else on stdout is a protocol violation."""
    try:
        return AirbyteMessageSerializer.load(json.loads(line))
    except Exception as error:
        raise AssertionError(f"stdout line is not an Airbyte message: {line[:300]!r}") from error


def _failure(messages: list[AirbyteMessage], verb: str, code: int) -> AirbyteTracedException:
    """The binary's own TRACE ERROR, when it printed one, as the exception the CDK expects."""
    errors = [m.trace.error for m in messages if m.type == Type.TRACE and m.trace.error]
    if errors:
        return AirbyteTracedException(
            message=errors[-1].message,
            internal_message=errors[-1].internal_message,
            failure_type=errors[-1].failure_type or FailureType.system_error,
        )
    return AirbyteTracedException(message=f"`{verb}` exited with code {code} and no TRACE ERROR")


class SubprocessSource(Source):
    """Every verb is one run of the binary."""

    _spec: ConnectorSpecification | None = None

    def _run(self, *args: str) -> tuple[list[AirbyteMessage], int]:
        done = subprocess.run([connector_exe(), *args], capture_output=True, text=True, check=False)
        return [parse_line(line) for line in done.stdout.splitlines() if line.strip()], done.returncode

    def _config_file(self, config: Mapping[str, Any]) -> str:
        # The CDK hands over the parsed config; the binary reads files, as on the platform.
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(dict(config), f)
            return f.name

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        # The entrypoint asks for the spec before every verb; it never changes within a run.
        if self._spec is None:
            messages, code = self._run("spec")
            specs = [m.spec for m in messages if m.type == Type.SPEC]
            if code != 0 or len(specs) != 1:
                raise _failure(messages, "spec", code)
            type(self)._spec = specs[0]
        return self._spec

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        messages, code = self._run("check", "--config", self._config_file(config))
        statuses = [m.connectionStatus for m in messages if m.type == Type.CONNECTION_STATUS]
        if code != 0 or not statuses:
            raise _failure(messages, "check", code)
        return statuses[-1]

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        messages, code = self._run("discover", "--config", self._config_file(config))
        catalogs = [m.catalog for m in messages if m.type == Type.CATALOG]
        if code != 0 or len(catalogs) != 1:
            raise _failure(messages, "discover", code)
        return catalogs[0]

    @classmethod
    def read_catalog(cls, catalog_path: str) -> str:  # type: ignore[override]
        return catalog_path

    @classmethod
    def read_state(cls, state_path: str) -> str | None:  # type: ignore[override]
        return state_path

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: str,
        state: str | None = None,
    ) -> Iterator[AirbyteMessage]:
        args = ["read", "--config", self._config_file(config), "--catalog", catalog]
        if state:
            args += ["--state", state]
        # Streamed, so a long read's messages reach the tests as they come.
        with subprocess.Popen(
            [connector_exe(), *args], stdout=subprocess.PIPE, text=True
        ) as proc:
            seen: list[AirbyteMessage] = []
            for line in proc.stdout or ():
                if line.strip():
                    message = parse_line(line)
                    if message.type == Type.TRACE:
                        seen.append(message)
                    yield message
            code = proc.wait()
        if code != 0:
            raise _failure(seen, "read", code)
