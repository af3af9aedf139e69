#!/usr/bin/env bash
# Assembles the root file system of the agentbox image in ROOTFS_DIR and packs it as OUT_TAR:
# the binary, CA certificates, passwd/group for the non-root user agentbox (10001), /data owned
# (and /data/models, the mount point of the models volume) owned by that user, a sticky /tmp, and — only when the binary is not fully static — exactly the
# shared libraries `ldd` names (and the dynamic loader). The tar records owners and modes, so
# `ADD rootfs.tar /` on `FROM scratch` makes the image in ONE layer (Dockerfile, image-smoke).
#
# usage: deploy/rootfs.sh BINARY ROOTFS_DIR OUT_TAR
set -euo pipefail

binary="$1"
root="$2"
out="$3"
uid=10001

rm -rf "$root"
mkdir -p "$root/etc/ssl/certs" "$root/data/models" "$root/tmp"
install -m 0755 "$binary" "$root/agentbox"
# The release profile keeps line tables for backtraces in tests; the image does without them
# (about 320 MB → 85 MB). Symbols stay, so a panic still names its functions.
strip --strip-debug "$root/agentbox"

ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -f "$ca" ]; then
    echo "rootfs: $ca is missing (install the ca-certificates package)" >&2
    exit 1
fi
install -m 0644 "$ca" "$root/etc/ssl/certs/ca-certificates.crt"

printf 'root:x:0:0:root:/:/sbin/nologin\nagentbox:x:%s:%s:agentbox:/data:/sbin/nologin\n' "$uid" "$uid" \
    >"$root/etc/passwd"
printf 'root:x:0:\nagentbox:x:%s:\n' "$uid" >"$root/etc/group"
# getaddrinfo reads these; without them "localhost" does not resolve in a scratch image.
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
chmod 0755 "$root/data" "$root/data/models"
chmod 1777 "$root/tmp"

# A fully static binary: ldd says "not a dynamic executable" (or "statically linked" for a
# static PIE) and names no library.
libs="$(ldd "$binary" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u || true)"
if [ -n "$libs" ]; then
    for lib in $libs; do
        # Keep the path the loader looks for (and follow the symlink to the real file).
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
        chmod 0755 "$root$lib"
    done
    echo "rootfs: dynamic binary, added $(echo "$libs" | wc -w) shared libraries:" $libs >&2
else
    echo "rootfs: static binary, no shared libraries" >&2
fi

# Numeric owners: root for everything, the agentbox user for /data.
tar --create --file "$out" --directory "$root" --numeric-owner --owner=0 --group=0 \
    --exclude=./data --sort=name .
tar --append --file "$out" --directory "$root" --numeric-owner --owner="$uid" --group="$uid" \
    --no-recursion ./data ./data/models
