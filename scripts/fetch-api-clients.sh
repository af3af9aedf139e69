#!/usr/bin/env bash
# The real API clients the compatibility tests drive (tests/it/compat_clients.rs): the official
# OpenAI Python SDK and the official Ollama Python library, installed once into a cache venv
# from tests/fixtures/clients/requirements.txt (every package pinned with hashes) and again
# whenever that lock file changes. Prints the venv's folder; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${AGENTBOX_API_CLIENTS_DIR:-/var/tmp/agentbox-api-clients}"
lock=tests/fixtures/clients/requirements.txt

if ! cmp -s "$lock" "$dir/requirements.txt" || [ ! -x "$dir/bin/python" ]; then
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$lock" >&2
    # Copied last: an interrupted install is redone on the next run.
    cp "$lock" "$dir/requirements.txt"
fi
echo "$dir"
