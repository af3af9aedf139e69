#!/usr/bin/env bash
# What a fresh machine needs before the first compile, checked in a second and installed with
# the system's package manager (apt-get, dnf or brew) — saying what it installs, and asking for
# sudo where it needs root — so that nothing fails deep inside a build script later.
#
#   scripts/prerequisites.sh serve   # building and running: Rust, Node.js, cmake, C/C++, libclang
#   scripts/prerequisites.sh test    # the above, plus Python, Postgres and Chromium for the tests
#
# AGENTBOX_INSTALL=no only checks: it prints the one install command and exits 2.
set -euo pipefail

purpose="${1:-serve}"
case "$purpose" in
    serve | test) ;;
    *)
        echo "usage: scripts/prerequisites.sh [serve|test]" >&2
        exit 2
        ;;
esac

os="$(uname -s)"
manager=""
if [ "$os" = Darwin ]; then
    manager=brew
elif [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    family="$(. /etc/os-release && echo " ${ID:-} ${ID_LIKE:-} ")"
    case "$family" in
        *" debian "* | *" ubuntu "*) manager=apt ;;
        *" fedora "* | *" rhel "* | *" centos "*) manager=dnf ;;
    esac
fi

has() { command -v "$1" >/dev/null 2>&1; }

# libclang, which the llama.cpp bindings are generated with (bindgen), where each OS keeps it.
has_libclang() {
    [ -n "${LIBCLANG_PATH:-}" ] && return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null \
        || compgen -G '/usr/lib*/libclang*.so*' >/dev/null \
        || compgen -G '/usr/lib/*-linux-gnu/libclang*.so*' >/dev/null \
        || [ -e /Library/Developer/CommandLineTools/usr/lib/libclang.dylib ] \
        || compgen -G '/Applications/Xcode*.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/lib/libclang.dylib' >/dev/null
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# What is missing: "what it is for|apt package|dnf package|brew package" per line.
missing=()
need() { missing+=("$1|$2|$3|$4"); }

if ! has cargo; then
    echo "prerequisites: cargo not found — install Rust first: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    exit 2
fi
if ! has node || ! has npm || [ "$(node_major)" -lt 20 ]; then
    # Not from the package manager: Debian 12 and Ubuntu 24.04 ship Node.js 18.
    echo "prerequisites: Node.js 20+ with npm is needed for the web UI — install it from https://nodejs.org (or nvm install 22)" >&2
    exit 2
fi
has cmake || need "cmake (llama.cpp)" cmake cmake cmake
if ! has c++ && ! has g++ && ! has clang++; then
    need "a C/C++ compiler (llama.cpp)" build-essential gcc-c++ ""
fi
if [ "$os" = Darwin ]; then
    if ! has_libclang; then
        echo "prerequisites: Apple's command line tools (clang, libclang) are missing — run: xcode-select --install" >&2
        exit 2
    fi
else
    has clang || need "clang (the llama.cpp bindings)" clang clang ""
    has_libclang || need "libclang (the llama.cpp bindings)" libclang-dev clang-devel ""
fi

if [ "$purpose" = test ]; then
    has python3 || need "Python 3 (test models and API clients)" "python3 python3-venv" python3 python
    if [ "$manager" = apt ] && has python3 && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        need "Python's venv module (test clients)" python3-venv "" ""
    fi
    if ! has pg_isready && ! has pg_ctl && ! has pg_ctlcluster; then
        need "PostgreSQL (the external-database test pass)" postgresql postgresql-server postgresql@15
    fi
    chromium="${CHROMIUM:-/usr/bin/chromium}"
    if [ ! -x "$chromium" ] && ! has chromium && ! has chromium-browser; then
        need "Chromium (the browser tests)" chromium chromium ""
    fi
fi

[ ${#missing[@]} -eq 0 ] && exit 0

packages=()
for entry in "${missing[@]}"; do
    IFS='|' read -r what apt_pkg dnf_pkg brew_pkg <<<"$entry"
    echo "prerequisites: missing $what" >&2
    case "$manager" in
        apt) packages+=($apt_pkg) ;;
        dnf) packages+=($dnf_pkg) ;;
        brew) packages+=($brew_pkg) ;;
    esac
done

case "$manager" in
    apt) command=(apt-get install -y "${packages[@]}") ;;
    dnf) command=(dnf install -y "${packages[@]}") ;;
    brew) command=(brew install "${packages[@]}") ;;
    *)
        echo "prerequisites: no apt-get, dnf or brew here; install the above with your package manager (README: Prerequisites)" >&2
        exit 2
        ;;
esac
if [ "$manager" = brew ] && [ "$purpose" = test ]; then
    echo "prerequisites: Chromium for the browser tests: brew install --cask chromium, then CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium" >&2
fi

sudo=()
if [ "$manager" != brew ] && [ "$(id -u)" != 0 ]; then
    sudo=(sudo)
fi
line="${sudo[*]:+${sudo[*]} }${command[*]}"
if [ "${AGENTBOX_INSTALL:-yes}" = no ] || { [ ${#sudo[@]} -gt 0 ] && ! has sudo; }; then
    echo "prerequisites: install them with: $line" >&2
    exit 2
fi
echo "prerequisites: installing with: $line" >&2
if [ "$manager" = apt ]; then
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${command[@]}" >&2
else
    "${sudo[@]}" "${command[@]}" >&2
fi
