#!/usr/bin/env python3
"""Client half of `scripts/bench-vs-llama-server.sh MODEL THREADS TOKENS chat`: streamed
`POST /v1/chat/completions` against one OpenAI-compatible server at a time. Standard library only.

  bench-chat-stream.py wait URL PID SECONDS        until GET URL answers 200; fails if PID exits
  bench-chat-stream.py api-key BASE                first admin and an API key on a fresh agentbox;
                                                   prints the key's secret
  bench-chat-stream.py run BASE MODEL TOKENS REPS  1 warm-up, then REPS streamed requests (with
                                                   the bearer key $BENCH_API_KEY when set); prints
                                                   a JSON summary (medians), progress on stderr
  bench-chat-stream.py load BASE MODEL TOKENS CONCURRENCY
                                                   CONCURRENCY streamed requests at once (after 1
                                                   warm-up); prints a JSON summary: errors, p50/p95
                                                   time to first token and total, aggregate tok/s
  bench-chat-stream.py table OURS.json PEER.json THREADS CONTEXT TOKENS
  bench-chat-stream.py load-table OURS.json PEER.json CONCURRENCY SLOTS TOKENS

Per request, measured here on the client: time to first token (request sent -> first chunk whose
`delta.content` is not empty), generation tokens/s ((completion tokens - 1) / (last content chunk -
first content chunk); completion tokens from the `usage` chunk that `stream_options.include_usage`
asks for, else the number of content chunks) and the total time (request sent -> end of stream).
"""

import hashlib
import http.client
import inspect
import json
import math
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# ~128 words that ask for a long answer: neither server is told to ignore end-of-sequence (agentbox
# has no such option), so the prompt makes the model write until max_tokens.
SYSTEM = "You are a novelist. You write long, detailed stories and never stop early."
PROMPT = (
    "Write a long story about a lighthouse keeper named Mara who lives alone on a small rocky "
    "island in the northern sea. Begin on the evening a violent storm arrives, and describe the "
    "wind, the waves breaking over the rocks, the smell of salt and rain, and the old brass lamp "
    "she must keep burning through the night. Then tell how a small fishing boat loses its way in "
    "the dark, how Mara sees its failing light, and what she risks to guide the crew to safety. "
    "Include memories of her father, who kept the same light before her, a conversation with the "
    "young captain the next morning, and a quiet ending at sunrise. Write at least twelve long "
    "paragraphs full of vivid details, and do not stop early."
)
SEED = 42


def request_body(model, max_tokens):
    """The one request both servers get: the same messages, greedy, same seed, streamed."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": SEED,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def connect(base):
    url = urllib.parse.urlsplit(base)
    if url.scheme != "http":
        sys.exit(f"{base}: only http:// URLs are supported")
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=900), url.path.rstrip(
        "/"
    )


def cmd_wait(url, pid, seconds):
    pid, deadline = int(pid), time.monotonic() + float(seconds)
    while True:
        try:
            os.kill(pid, 0)
            # A zombie (exited, not yet reaped) still answers kill 0: look at its state too.
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    raise ProcessLookupError
        except (ProcessLookupError, FileNotFoundError):
            sys.exit(f"the server (pid {pid}) exited before {url} answered 200")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not answer 200 within {seconds} s")
        time.sleep(0.2)


def call_json(conn, method, path, body, headers):
    conn.request(
        method, path, json.dumps(body).encode(), {"content-type": "application/json", **headers}
    )
    response = conn.getresponse()
    data = response.read()
    if response.status // 100 != 2:
        sys.exit(f"{method} {path}: HTTP {response.status}: {data[:2000].decode(errors='replace')}")
    return response, json.loads(data)


def cmd_api_key(base):
    """First-run setup (the first admin, signed in by cookie), then an API key for the bench."""
    conn, prefix = connect(base)
    response, body = call_json(
        conn,
        "POST",
        prefix + "/api/v1/auth/setup",
        {"email": "bench@example.com", "password": "bench-password-0123", "company": "Bench"},
        {},
    )
    cookies = [c.split(";", 1)[0] for c in response.headers.get_all("set-cookie") or []]
    if not cookies:
        sys.exit("POST /api/v1/auth/setup set no cookie")
    _, key = call_json(
        conn,
        "POST",
        prefix + "/api/v1/keys",
        {"name": "bench", "scopes": ["read", "write"]},
        {"cookie": "; ".join(cookies), "x-csrf-token": body["csrf_token"]},
    )
    conn.close()
    print(key["secret"])


def events(response):
    """Yields (arrival time, data) for each server-sent event, as lines arrive."""
    data = []
    while True:
        line = response.readline()
        now = time.perf_counter()
        if not line:
            break
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif not line and data:
            yield now, b"\n".join(data)
            data = []
    if data:
        yield time.perf_counter(), b"\n".join(data)


class StreamError(Exception):
    """A request that failed: an HTTP error, an error in the stream, or no content."""


def stream_once(base, key, body):
    conn, prefix = connect(base)
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    payload = json.dumps(body).encode()
    start = time.perf_counter()
    conn.request("POST", prefix + "/v1/chat/completions", payload, headers)
    response = conn.getresponse()
    if response.status != 200:
        raise StreamError(
            f"{base}/v1/chat/completions: HTTP {response.status}: "
            f"{response.read()[:2000].decode(errors='replace')}"
        )
    first = last = usage = timings = finish = None
    pieces, done = [], False
    for now, data in events(response):
        if data.strip() == b"[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if "error" in chunk:
            raise StreamError(f"{base}: error in the stream: {chunk['error']}")
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                first = first or now
                last = now
                pieces.append(content)
            finish = choice.get("finish_reason") or finish
        usage = chunk.get("usage") or usage
        timings = chunk.get("timings") or timings
    end = time.perf_counter()
    conn.close()
    if first is None:
        raise StreamError(f"{base}: the stream carried no content")
    counted = usage is None or "completion_tokens" not in usage
    tokens = len(pieces) if counted else usage["completion_tokens"]
    text = "".join(pieces)
    return {
        "ttft_ms": (first - start) * 1000,
        "tokens_per_second": (tokens - 1) / (last - first)
        if tokens > 1 and last > first
        else float("nan"),
        "total_ms": (end - start) * 1000,
        "completion_tokens": tokens,
        "tokens_counted_from_chunks": counted,
        "prompt_tokens": None if usage is None else usage.get("prompt_tokens"),
        "content_chunks": len(pieces),
        "finish_reason": finish,
        "done_marker": done,
        "server_tokens_per_second": (timings or {}).get("predicted_per_second"),
        "text_sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
        "text_start": text[:80],
    }


def stream_or_exit(base, key, body):
    try:
        return stream_once(base, key, body)
    except StreamError as err:
        sys.exit(str(err))


def cmd_run(base, model, tokens, reps):
    tokens, reps, key = int(tokens), int(reps), os.environ.get("BENCH_API_KEY")
    warm = stream_or_exit(base, key, request_body(model, min(tokens, 16)))
    print(f"  {base}: warm-up {warm['total_ms']:.0f} ms", file=sys.stderr)
    runs = []
    for i in range(reps):
        run = stream_or_exit(base, key, request_body(model, tokens))
        runs.append(run)
        print(
            f"  {base}: run {i + 1}/{reps}: ttft {run['ttft_ms']:.1f} ms, "
            f"{run['completion_tokens']} tokens, {run['tokens_per_second']:.1f} tok/s, "
            f"total {run['total_ms']:.0f} ms, finish {run['finish_reason']}",
            file=sys.stderr,
        )

    def median(field):
        return statistics.median(r[field] for r in runs)

    server_rates = [r["server_tokens_per_second"] for r in runs if r["server_tokens_per_second"]]
    print(
        json.dumps(
            {
                "runs": len(runs),
                "ttft_ms": median("ttft_ms"),
                "tokens_per_second": median("tokens_per_second"),
                "total_ms": median("total_ms"),
                "completion_tokens": sorted({r["completion_tokens"] for r in runs}),
                "prompt_tokens": sorted(
                    {r["prompt_tokens"] for r in runs if r["prompt_tokens"] is not None}
                ),
                "tokens_counted_from_chunks": any(r["tokens_counted_from_chunks"] for r in runs),
                "finish_reasons": sorted({str(r["finish_reason"]) for r in runs}),
                "done_marker": all(r["done_marker"] for r in runs),
                "server_tokens_per_second": statistics.median(server_rates)
                if server_rates
                else None,
                "texts": sorted({r["text_sha256"] for r in runs}),
                "text_start": runs[0]["text_start"],
            }
        )
    )


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(math.ceil(len(ordered) * fraction) - 1, 0)]


def cmd_load(base, model, tokens, concurrency):
    tokens, concurrency, key = int(tokens), int(concurrency), os.environ.get("BENCH_API_KEY")
    stream_or_exit(base, key, request_body(model, min(tokens, 16)))
    runs, errors, lock = [], [], threading.Lock()
    start_line = threading.Barrier(concurrency)

    def one():
        start_line.wait()
        try:
            run = stream_once(base, key, request_body(model, tokens))
        except (StreamError, OSError, http.client.HTTPException, ValueError) as err:
            with lock:
                errors.append(f"{type(err).__name__}: {err}")
            return
        with lock:
            runs.append(run)

    clients = [threading.Thread(target=one) for _ in range(concurrency)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    wall = time.perf_counter() - started
    ttft = [r["ttft_ms"] for r in runs]
    total = [r["total_ms"] for r in runs]
    print(
        f"  {base}: {len(runs)} of {concurrency} streams answered in {wall:.1f} s, "
        f"{len(errors)} errors",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "concurrency": concurrency,
                "answered": len(runs),
                "errors": len(errors),
                "error_samples": sorted(set(errors))[:5],
                "ttft_ms_p50": percentile(ttft, 0.5),
                "ttft_ms_p95": percentile(ttft, 0.95),
                "total_ms_p50": percentile(total, 0.5),
                "total_ms_p95": percentile(total, 0.95),
                "completion_tokens": sum(r["completion_tokens"] for r in runs),
                "aggregate_tokens_per_second": sum(r["completion_tokens"] for r in runs) / wall,
                "wall_s": wall,
            }
        )
    )


def cmd_load_table(ours_file, peer_file, concurrency, slots, tokens):
    with open(ours_file) as f:
        ours = json.load(f)
    with open(peer_file) as f:
        peer = json.load(f)
    print(
        f"/v1/chat/completions, streamed: {concurrency} requests at once, {slots} slots, "
        f"max_tokens {tokens}, temperature 0"
    )
    print(f"{'':34}{'agentbox':>12}{'llama-server':>14}{'ratio':>8}")
    # ratio >= 1.00: agentbox is as good or better (lower times, higher rates).
    for label, field, better in [
        ("streams answered", "answered", "higher"),
        ("errors", "errors", "count"),
        ("time to first token p50 ms", "ttft_ms_p50", "lower"),
        ("time to first token p95 ms", "ttft_ms_p95", "lower"),
        ("total time p50 ms", "total_ms_p50", "lower"),
        ("total time p95 ms", "total_ms_p95", "lower"),
        ("aggregate tok/s", "aggregate_tokens_per_second", "higher"),
    ]:
        a, b = ours[field], peer[field]
        if better == "count":
            print(f"{label:34}{a:12}{b:14}{'':>8}")
            continue
        ratio = (b / a if better == "lower" else a / b) if a and b else float("nan")
        print(f"{label:34}{a:12.1f}{b:14.1f}{ratio:8.2f}")
    for name, result in (("agentbox", ours), ("llama-server", peer)):
        for sample in result["error_samples"]:
            print(f"  {name} error: {sample}")


def cmd_table(ours_file, peer_file, threads, context, tokens):
    with open(ours_file) as f:
        ours = json.load(f)
    with open(peer_file) as f:
        peer = json.load(f)
    print(
        f"/v1/chat/completions, streamed: threads {threads}, context {context}, 1 slot, "
        f"max_tokens {tokens}, temperature 0; median of {ours['runs']} runs after 1 warm-up"
    )
    print(f"{'':34}{'agentbox':>12}{'llama-server':>14}{'ratio':>8}")
    # ratio >= 1.00: agentbox is as good or better (lower times, higher rates).
    for label, field, better in [
        ("chat: time to first token ms", "ttft_ms", "lower"),
        ("chat: generation tok/s", "tokens_per_second", "higher"),
        ("chat: total ms", "total_ms", "lower"),
    ]:
        o, p = ours[field], peer[field]
        ratio = (p / o if better == "lower" else o / p) if o and p else float("nan")
        print(f"{label:34}{o:12.1f}{p:14.1f}{ratio:8.2f}")

    def join(values):
        return ",".join(str(v) for v in values) or "?"

    print(
        f"{'chat: completion tokens':34}{join(ours['completion_tokens']):>12}"
        f"{join(peer['completion_tokens']):>14}"
    )
    print(
        f"{'chat: prompt tokens':34}{join(ours['prompt_tokens']):>12}{join(peer['prompt_tokens']):>14}"
    )
    print(
        f"{'chat: finish reason':34}{join(ours['finish_reasons']):>12}{join(peer['finish_reasons']):>14}"
    )
    notes = []
    if ours["completion_tokens"] != peer["completion_tokens"]:
        notes.append("the completion token counts differ: compare tok/s and TTFT, not the totals")
    for name, side in (("agentbox", ours), ("llama-server", peer)):
        if side["tokens_counted_from_chunks"]:
            notes.append(f"{name} sent no usage: its tokens are counted content chunks")
        if not side["done_marker"]:
            notes.append(f"{name}'s stream did not end with data: [DONE]")
        if len(side["texts"]) > 1:
            notes.append(f"{name} answered differently across runs at temperature 0")
    if peer.get("server_tokens_per_second"):
        notes.append(
            f"llama-server's own timings: {peer['server_tokens_per_second']:.1f} generation tok/s"
        )
    notes.append(
        "same answer text: "
        + ("yes" if ours["texts"] == peer["texts"] else "no")
        + f" (agentbox starts {ours['text_start'][:40]!r}, llama-server {peer['text_start'][:40]!r})"
    )
    for note in notes:
        print("  " + note)


COMMANDS = {
    "wait": cmd_wait,
    "api-key": cmd_api_key,
    "run": cmd_run,
    "load": cmd_load,
    "table": cmd_table,
    "load-table": cmd_load_table,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    command = COMMANDS[sys.argv[1]]
    try:
        inspect.signature(command).bind(*sys.argv[2:])
    except TypeError as err:
        sys.exit(f"{sys.argv[1]}: {err}\n{__doc__}")
    command(*sys.argv[2:])
