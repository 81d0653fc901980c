#!/usr/bin/env bash
# Airbyte's acceptance suite, against the release binary and a local Harvest emulator:
# airbyte-cdk's standard source tests (driven by acceptance-test-config.yml) and our own protocol
# checks (test_protocol.py, and test_duckdb.py: incremental syncs into DuckDB through PyAirbyte
# against an emulator of its own that changes between them). Needs cargo and python3 (3.10-3.13); installs the pinned Python
# packages into the repository's .venv/. Extra arguments go to pytest (e.g. -k incremental).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
say() { printf '[acceptance] %s\n' "$*" >&2; }

# xtask is selected too, so the dependencies get the features `cargo xtask` builds them with and
# the `cargo xtask bench` that CI runs next reuses this build (see xtask/src/connector.rs).
say "building source-harvest, harvest-emulator and xtask (release)"
cargo build --release --locked -p source-harvest -p harvest-emulator -p xtask --bins
exe=$target/release/source-harvest

# The emulator serves the Tiny dataset (expected_records.jsonl comes from it) with Harvest's rate
# limits a hundred times faster; secrets/config.json tells the connector the same limits.
work=$(mktemp -d)
emulator_pid=
cleanup() {
  if [[ -n $emulator_pid ]]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$target/release/harvest-emulator" --port 0 --scale tiny --seed 42 \
  --general-limit 100/150ms --reports-limit 100/9s >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
url=
for _ in $(seq 600); do
  url=$(grep -o -m1 'http://127\.0\.0\.1:[0-9]*' "$work/emulator.out" || true)
  [[ -n $url ]] && break
  kill -0 "$emulator_pid" 2>/dev/null || { say "the emulator exited:"; cat "$work/emulator.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n $url ]] || { say "the emulator did not start listening within 60 s"; exit 1; }
say "emulator listening on $url"

mkdir -p integration_tests/secrets
for name in sample_config invalid_config; do
  sed "s|http://127.0.0.1:EMULATOR_PORT|$url|g" "integration_tests/$name.json" \
    >"integration_tests/secrets/${name#sample_}.json"
done

venv=$root/.venv
python=${PYTHON:-python3}
[[ -x $venv/bin/python ]] || { say "creating $venv"; "$python" -m venv "$venv"; }
stamp=$venv/.acceptance-$(sha256sum integration_tests/requirements.txt | cut -c1-16)
if [[ ! -f $stamp ]]; then
  say "installing integration_tests/requirements.txt into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r integration_tests/requirements.txt
  touch "$stamp"
fi

# bin/docker stands in for `docker run`, so the CDK's image tests run the binary directly.
say "running the standard tests and our protocol checks"
PATH=$root/integration_tests/bin:$PATH CONNECTOR_EXE=$exe EMULATOR_EXE=$target/release/harvest-emulator \
  "$venv/bin/python" -m pytest integration_tests \
  -p airbyte_cdk.test.standard_tests.pytest_hooks -p no:cacheprovider \
  --connector-image=source-harvest/source-harvest:dev --read-from-streams=all \
  -W error::airbyte_cdk.test.standard_tests.DiscoveredCatalogWarning \
  -q -rs "$@"
