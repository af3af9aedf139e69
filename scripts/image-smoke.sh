#!/usr/bin/env bash
# The container image, end to end and offline: builds the single-layer `FROM scratch` image
# (deploy/Containerfile.local: the final stage of deploy/Dockerfile) from the release binary
# built on this machine with buildah (chroot isolation, no base image to pull), checks it has
# ONE layer and measures it, runs it with podman (runc, cgroupfs, vfs storage, explicit
# nofile/nproc limits — the defaults exceed this sandbox's), waits for /health, checks the
# image's own health check, proves the data volume survives a restart, and that SIGTERM stops
# it cleanly within 10 s. Prints the numbers the closing note reports.
#
# usage: scripts/image-smoke.sh [BINARY]   (default: $CARGO_TARGET_DIR/release/agentbox)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}"

binary="${1:-$CARGO_TARGET_DIR/release/agentbox}"
if [ ! -x "$binary" ]; then
    cargo build --release --locked --bin agentbox
fi
if ! command -v buildah >/dev/null 2>&1 || ! command -v podman >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc >/dev/null
fi

# Limits the checks hold the image to (measured: see docs/operations.md).
MAX_LAYERS=1
MAX_UNCOMPRESSED_MB=120
HTTPS_PORT="${AGENTBOX_SMOKE_HTTPS_PORT:-18443}"
HTTP_PORT="${AGENTBOX_SMOKE_HTTP_PORT:-18080}"

work="$(mktemp -d /var/tmp/agentbox-image-smoke.XXXXXX)"
name="agentbox-smoke-$$"
image="localhost/agentbox:smoke"
# A private store: nothing shared with other users of buildah/podman on this machine.
store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
podman=(podman "${store[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend file)
cleanup() {
    "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
    "${podman[@]}" volume rm -f "$name-data" >/dev/null 2>&1 || true
    buildah "${store[@]}" rm --all >/dev/null 2>&1 || true
    # vfs layers are plain folders; some are read-only.
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
fail() {
    echo "FAIL: $*" >&2
    "${podman[@]}" logs --tail 30 "$name" >&2 2>&1 || true
    # podman's own complaints (without systemd it cannot time the health check: harmless).
    grep -v 'systemd connection' "$work/podman.log" >&2 2>/dev/null || true
    exit 1
}

echo "== root file system from $binary"
mkdir -p "$work/context"
deploy/rootfs.sh "$binary" "$work/rootfs" "$work/context/rootfs.tar"
cp deploy/Containerfile.local "$work/context/Containerfile"

echo "== build (buildah, chroot isolation, offline)"
started="$(now)"
# Docker format: the OCI image format has no HEALTHCHECK.
buildah "${store[@]}" bud --isolation chroot --layers=false --format docker -q -t "$image" \
    -f "$work/context/Containerfile" "$work/context" >/dev/null
build_s="$(elapsed "$started")"
layers="$(buildah "${store[@]}" inspect --type image --format '{{len .OCIv1.RootFS.DiffIDs}}' "$image")"
[ "$layers" -le "$MAX_LAYERS" ] || fail "the image has $layers layers (at most $MAX_LAYERS)"
uncompressed="$("${podman[@]}" image inspect --format '{{.Size}}' "$image")"
buildah "${store[@]}" push -q --compression-format gzip "$image" "oci-archive:$work/image.tar" >/dev/null
compressed="$(stat -c %s "$work/image.tar")"
[ "$uncompressed" -le $((MAX_UNCOMPRESSED_MB << 20)) ] \
    || fail "the image is $((uncompressed >> 20)) MiB uncompressed (at most $MAX_UNCOMPRESSED_MB MiB)"
user="$(buildah "${store[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$image")"
[ "$user" = "10001:10001" ] || fail "the image runs as '$user', not the non-root user 10001"

run() {
    "${podman[@]}" run -d --name "$name" --network host \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
        --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
        -v "$name-data:/data" \
        -e AGENTBOX_LISTEN="127.0.0.1:$HTTPS_PORT" -e AGENTBOX_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" \
        -e AGENTBOX_MODELS_AUTO_PULL=false -e AGENTBOX_ENGINE_THREADS=1 \
        "$image" >/dev/null 2>>"$work/podman.log"
}
wait_health() {
    local started="$1" deadline=$((SECONDS + 180))
    until curl -skf "https://127.0.0.1:$HTTPS_PORT/health" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no /health within 180 s"
        [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$name")" = true ] \
            || fail "the container stopped"
        sleep 0.1
    done
    elapsed "$started"
}
wait_ready() {
    local deadline=$((SECONDS + 180))
    until curl -skf "https://127.0.0.1:$HTTPS_PORT/ready" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "not /ready within 180 s"
        sleep 0.2
    done
}

echo "== run (podman: runc, cgroupfs, vfs, read-only root, no capabilities)"
"${podman[@]}" volume create "$name-data" >/dev/null
started="$(now)"
run
first_health_s="$(wait_health "$started")"
wait_ready
first_ready_s="$(elapsed "$started")"
# The plain listener answers /health too (what a load balancer probes).
curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null || fail "no /health on the plain listener"
# The image's HEALTHCHECK: agentbox checks itself (no shell, no curl in the image).
"${podman[@]}" exec "$name" /agentbox healthcheck >/dev/null || fail "agentbox healthcheck failed inside"

echo "== data survives a restart"
setup="$(curl -sk -X POST "https://127.0.0.1:$HTTPS_PORT/api/v1/auth/setup" \
    -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","password":"correct horse battery staple"}' -o /dev/null -w '%{http_code}')"
[ "$setup" = 201 ] || [ "$setup" = 200 ] || fail "setup answered $setup"

started="$(now)"
"${podman[@]}" stop -t 10 "$name" >/dev/null 2>>"$work/podman.log"
stop_s="$(elapsed "$started")"
exit_code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")"
[ "$exit_code" = 0 ] || fail "SIGTERM ended it with exit code $exit_code"
awk -v s="$stop_s" 'BEGIN { exit !(s < 10) }' || fail "SIGTERM took ${stop_s} s (podman killed it at 10 s)"

started="$(now)"
"${podman[@]}" start "$name" >/dev/null 2>>"$work/podman.log"
second_health_s="$(wait_health "$started")"
wait_ready
second_ready_s="$(elapsed "$started")"
state="$(curl -sk "https://127.0.0.1:$HTTPS_PORT/api/v1/auth/setup")"
[[ "$state" == *'"setup_needed":false'* ]] || fail "the admin was lost in the restart: $state"
login="$(curl -sk -X POST "https://127.0.0.1:$HTTPS_PORT/api/v1/auth/login" \
    -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","password":"correct horse battery staple"}' -o /dev/null -w '%{http_code}')"
[ "$login" = 200 ] || fail "sign-in after the restart answered $login"
"${podman[@]}" stop -t 10 "$name" >/dev/null 2>>"$work/podman.log"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "== image: $layers layer, $(mib "$uncompressed") uncompressed, $(mib "$compressed") compressed (gzip OCI archive)"
echo "== build ${build_s} s; start → /health ${first_health_s} s, → /ready ${first_ready_s} s (first start: empty volume, database created); restart → /health ${second_health_s} s, → /ready ${second_ready_s} s; SIGTERM → exit ${stop_s} s"
echo "== image smoke test passed"
