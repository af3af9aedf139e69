#!/usr/bin/env bash
# Requests/s of GET /api/v1/me (API-key auth + an RLS-scoped read) with wrk, 32 connections,
# on the embedded database and on external Postgres (least privilege: the runtime role serves,
# the owner migrates), side by side in one run; with the errors (non-2xx, socket) and the
# server's resident memory after exactly 1,000 requests, after 10,000, and after the whole run.
# Usage: scripts/bench-http.sh [seconds] ; needs wrk (apt-get install wrk) and curl.
set -euo pipefail
bin="${BIN:-${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}/release/agentbox}"
seconds="${1:-10}"
external_admin="${AGENTBOX_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
port="${PORT:-18444}"
dir="$(mktemp -d)"
pid=""
db="agentbox_bench_$$"
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    psql "$external_admin" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

run_one() {
    local label="$1" data="$2"
    shift 2
    env "$@" "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --http-listen off \
        >"$dir/$label.log" 2>&1 &
    pid=$!
    until curl -skf "https://127.0.0.1:$port/ready" >/dev/null; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/$label.log" >&2; exit 1; }
        sleep 0.05
    done
    local base="https://127.0.0.1:$port/api/v1"
    curl -sk -c "$dir/jar" -H 'content-type: application/json' \
        -d '{"email":"bench@example.com","password":"benchmark password"}' "$base/auth/setup" >"$dir/setup.json"
    local csrf key
    csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$dir/setup.json")
    key=$(curl -sk -b "$dir/jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
        -d '{"name":"bench"}' "$base/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
    # Exactly 1,000 requests, then 9,000 more, on one keep-alive connection.
    local rss_1k rss_10k rss_end
    count_requests 1000 "$base/me" "$key" >"$dir/$label.warm"
    rss_1k=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    count_requests 9000 "$base/me" "$key" >>"$dir/$label.warm"
    rss_10k=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Authorization: Bearer $key" "$base/me" >"$dir/$label.wrk"
    rss_end=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true; pid=""
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/$label.wrk")
    p50=$(awk '$1=="50%" {print $2}' "$dir/$label.wrk")
    p99=$(awk '$1=="99%" {print $2}' "$dir/$label.wrk")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' "$dir/$label.wrk")
    local warm_requests requests warm_errors
    warm_requests=$(awk '{n += $1} END {print n}' "$dir/$label.warm")
    warm_errors=$(awk '{e += $2} END {print e}' "$dir/$label.warm")
    requests=$(awk '/requests in/ {print $1}' "$dir/$label.wrk")
    echo "$label: ${rps} req/s, p50 ${p50}, p99 ${p99}, ${requests} requests, errors: ${errors:-none}"
    python3 -c "a, b, e = $rss_1k, $rss_10k, $rss_end; print(f'$label: RSS {a/1024:.1f} MiB after 1,000 requests, {b/1024:.1f} MiB after $warm_requests ({b/a:.2f}x), {e/1024:.1f} MiB after $((warm_requests + requests)) ({e/a:.2f}x); {$warm_errors} errors before the run')"
    eval "rps_$label=$rps"
}

# Sends exactly N GETs of URL with the API key KEY on one connection; prints "N ERRORS"
# (answers that are not 200).
count_requests() {
    python3 - "$@" <<'PY'
import http.client, ssl, sys, urllib.parse
count, url, key = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPSConnection(url.hostname, url.port, context=ssl._create_unverified_context())
errors = 0
for _ in range(count):
    conn.request("GET", url.path, headers={"authorization": f"Bearer {key}"})
    response = conn.getresponse()
    response.read()
    errors += response.status != 200
print(count, errors)
PY
}

run_one embedded "$dir/embedded" AGENTBOX_LOG_LEVEL=warn
psql "$external_admin" -qc "create database $db" >/dev/null
external_url="${external_admin%/*}/$db"
# The runtime role (owns nothing; agentbox grants it `authenticated` at start-up).
psql "$external_admin" -qc "do \$\$ begin if not exists (select from pg_roles where rolname = 'agentbox_bench_runtime')
    then create role agentbox_bench_runtime login noinherit; end if; end \$\$" >/dev/null
runtime_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(netloc="agentbox_bench_runtime@" + p.netloc.rsplit("@", 1)[-1]).geturl())' "$external_url")"
run_one external "$dir/external" AGENTBOX_LOG_LEVEL=warn DATABASE_URL="$runtime_url" \
    AGENTBOX_DATABASE_OWNER_URL="$external_url"
python3 -c "print(f'embedded/external ratio: {$rps_embedded/$rps_external:.2f}')"
