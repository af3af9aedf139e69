#!/usr/bin/env bash
# Schemathesis, the contract fuzzer scripts/schemathesis runs against the platform's OpenAPI
# document: installed once into a cache venv from tests/fixtures/schemathesis/requirements.txt
# (every package pinned with hashes) and again whenever that lock file changes. Prints the
# venv's folder; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${AGENTBOX_SCHEMATHESIS_DIR:-/var/tmp/agentbox-schemathesis}"
lock=tests/fixtures/schemathesis/requirements.txt

if ! cmp -s "$lock" "$dir/requirements.txt" || [ ! -x "$dir/bin/schemathesis" ]; then
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$lock" >&2
    # Copied last: an interrupted install is redone on the next run.
    cp "$lock" "$dir/requirements.txt"
fi
echo "$dir"
