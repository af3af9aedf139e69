#!/usr/bin/env bash
# The real MCP programs the integration tests drive, installed once into a cache folder whose
# path is printed: the official MCP Inspector CLI and filesystem server (npm, versions pinned by
# tests/fixtures/mcp/package-lock.json) and the official git server (PyPI, in a venv).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${AGENTBOX_MCP_TOOLS_DIR:-/var/tmp/agentbox-mcp-tools}"
git_server="mcp-server-git==2026.10.19"
mkdir -p "$dir"

if ! cmp -s tests/fixtures/mcp/package-lock.json "$dir/package-lock.json" \
    || [ ! -x "$dir/node_modules/.bin/mcp-inspector" ]; then
    cp tests/fixtures/mcp/package.json tests/fixtures/mcp/package-lock.json "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
if [ ! -x "$dir/venv/bin/mcp-server-git" ] || ! "$dir/venv/bin/pip" show -q "${git_server%%==*}" 2>/dev/null \
    || [ "$("$dir/venv/bin/pip" show "${git_server%%==*}" | sed -n 's/^Version: //p')" != "${git_server##*==}" ]; then
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$git_server" >&2
fi
echo "$dir"
