#!/usr/bin/env bash
# Cold start (fresh data dir) and warm start (same dir again) to a 200 from /ready, and the
# idle RSS once ready. Usage: scripts/bench-startup.sh [path/to/agentbox]
set -euo pipefail
bin="${1:-${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}/release/agentbox}"
dir="$(mktemp -d)"
port="${PORT:-18443}"
if curl -sk "https://127.0.0.1:$port/" >/dev/null 2>&1; then
    echo "port $port is taken; set PORT" >&2
    exit 1
fi
pid=""
elapsed=0
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

start_once() {
    local t0 t1
    t0=$(date +%s%N)
    "$bin" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --http-listen off \
        >"$dir/log" 2>&1 &
    pid=$!
    until curl -skf "https://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
        sleep 0.01
    done
    t1=$(date +%s%N)
    elapsed=$(( (t1 - t0) / 1000000 ))
}

start_once; cold=$elapsed
sleep 2
rss=$(ps -o rss= -p "$pid" | tr -d ' ')
kill -TERM "$pid"; wait "$pid" || true
start_once; warm=$elapsed
kill -TERM "$pid"; wait "$pid" || true
echo "cold start to /ready: ${cold} ms"
echo "warm start to /ready: ${warm} ms"
echo "idle RSS after cold start: $(( rss / 1024 )) MiB"
echo "binary: $(du -h "$bin" | cut -f1) ($(stat -c %s "$bin") bytes)"
