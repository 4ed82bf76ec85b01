# Shared by ops/demo and ops/test: find the project, install what is missing, build.
# Sourced, not run. Every function prints what it does on stderr.

NB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NB_CACHE=${NB_CACHE:-$HOME/.cache/notbrought}
NB_VENV=${NB_VENV:-$NB_CACHE/venv}

nb_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
nb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build needs (the product) and the tests need (their peers).
NB_BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config git
    librdkafka-dev libavro-dev libyaml-dev libssl-dev libjansson-dev libmicrohttpd-dev uthash-dev libjemalloc-dev
    libglib2.0-dev libxml2-dev libcsv-dev libsodium-dev libcurl4-openssl-dev nettle-dev)
NB_TEST_PACKAGES=(libcmocka-dev clang libclang-rt-14-dev python3 python3-venv python3-pip python3-yaml
    openssl openjdk-17-jdk-headless maven procps chromium chromium-driver npm)

nb_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        nb_die "need root to run: $*"; fi
}

# Installs the Debian packages that are not installed yet (one apt-get call).
nb_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    # A JDK or Maven that is already on PATH (e.g. from another distribution) will do.
    if command -v java >/dev/null && java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
        missing=("${missing[@]/openjdk-17-jdk-headless/}")
    fi
    command -v mvn >/dev/null && missing=("${missing[@]/maven/}")
    # Likewise a Node.js with npm already installed (Debian's npm would replace its Node.js).
    command -v npm >/dev/null && missing=("${missing[@]/#npm/}")
    local want=()
    for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
    [ ${#want[@]} -eq 0 ] && return 0
    nb_say "installing Debian packages: ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    nb_sudo apt-get update -qq
    nb_sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

# A virtual environment for the Python test peers (Debian's Python refuses global pip).
nb_python_peers() {
    if [ ! -x "$NB_VENV/bin/python" ]; then
        nb_say "creating Python environment for test peers in $NB_VENV"
        python3 -m venv "$NB_VENV"
    fi
    local req="$NB_ROOT/tests/requirements.txt"
    local stamp="$NB_VENV/.requirements.sha256"
    local sum
    sum=$(sha256sum "$req" | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        nb_say "installing Python test peers ($req)"
        "$NB_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
        echo "$sum" >"$stamp"
    fi
}

# The browser tests' JavaScript peer (axe-core, tests/browser/package.json) under NB_CACHE/npm.
nb_npm_peers() {
    local pkg="$NB_ROOT/tests/browser/package.json" dir="$NB_CACHE/npm"
    local stamp="$dir/.package.sha256" sum
    sum=$(sha256sum "$pkg" | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ] ||
        [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        nb_say "installing the browser tests' accessibility checker ($pkg)"
        mkdir -p "$dir"
        cp "$pkg" "$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
        echo "$sum" >"$stamp"
    fi
}

# nb_build DIR BUILD_TYPE [cmake args...]: configure once, then build.
nb_build() {
    local dir=$1 type=$2
    shift 2
    if [ ! -f "$dir/build.ninja" ]; then
        nb_say "configuring $dir ($type)"
        cmake -S "$NB_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" \
            -DNB_PYTHON="$NB_VENV/bin/python" "$@" >/dev/null
    fi
    nb_say "building $dir"
    cmake --build "$dir" -- -j"$(nproc)" >"$dir/ops-build.log" 2>&1 || {
        tail -n 40 "$dir/ops-build.log" >&2
        nb_die "build failed in $dir (full log: $dir/ops-build.log)"
    }
}
