# scripts/lib.sh: shared set-up for scripts/test.sh and scripts/demo.sh.
#
# Installs what is missing (Debian packages, as root or through sudo), builds
# and installs the extension, starts the Graph emulator on a free loopback
# port and a throwaway PostgreSQL cluster owned by a non-root user, and stops
# both on exit.  Source it; do not run it.

set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
PACKAGES=(build-essential pkg-config "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
          libcurl4-openssl-dev libjansson-dev libssl-dev python3 curl ca-certificates openssl jq
          "postgresql-$PG_MAJOR-cron")
# scripts/test.sh adds these: valgrind for the client layer, clang and its
# libFuzzer runtime for test/fuzz/ (gcc's libasan comes with build-essential),
# psycopg2 for test/checks/differential.py, Debian's packaging tools for
# test/package/check.sh (pg_buildext comes with postgresql-server-dev-all),
# and a JSON Schema validator for META.json
TEST_PACKAGES=(valgrind clang libclang-rt-14-dev python3-psycopg2 debhelper lintian
               postgresql-server-dev-all python3-jsonschema)
PYTHON=/usr/bin/python3

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages that are not installed yet.
dfw_install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    [ -x "$PG_CONFIG" ] || die "pg_config not found at $PG_CONFIG (set PG_CONFIG)"
    PGBIN=$("$PG_CONFIG" --bindir)
}

# Build with warnings as errors, then install into the server's directories.
# An argument adds compiler (and linker) flags, e.g. the sanitizers.
dfw_build_install() {
    log "building defender_fdw against $("$PG_CONFIG" --version)${1:+ with $1}"
    make -C "$REPO_DIR" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -C "$REPO_DIR" -s PG_CONFIG="$PG_CONFIG" COPT="-Werror${1:+ $1}" >/dev/null
    $SUDO make -C "$REPO_DIR" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

SANITIZE_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

# Rebuild the extension with AddressSanitizer + UBSan and restart the cluster
# with the ASan runtime preloaded into the postmaster (an instrumented
# library cannot be loaded into an uninstrumented program otherwise), and
# test/client/asan_init_first.c, without which the postmaster hangs at start-up.
# detect_leaks=0: PostgreSQL never frees much of what it allocates at exit,
# by design, and memory contexts are checked by test/checks/memory_check.py instead.
# The reports go to the server log (stderr) and to files $WORK_DIR/asan.*,
# read by dfw_sanitizer_reports.
dfw_sanitizer_cluster() {
    local asan
    asan=$(gcc -print-file-name=libasan.so)
    [ -e "$asan" ] || die "libasan.so not found (gcc's sanitizer runtime)"
    gcc -shared -fPIC -fsanitize=address -Wl,-z,initfirst -o "$WORK_DIR/asan_init_first.so" \
        "$REPO_DIR/test/client/asan_init_first.c" || die "could not build test/client/asan_init_first.c"
    chmod 755 "$WORK_DIR/asan_init_first.so"
    as_cluster_user "$PGBIN/pg_ctl" -D "$WORK_DIR/data" -m fast -w stop >/dev/null
    dfw_build_install "$SANITIZE_FLAGS"
    as_cluster_user env LD_PRELOAD="$asan $WORK_DIR/asan_init_first.so" \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_odr_violation=0:log_path=$WORK_DIR/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$WORK_DIR/asan" \
        "$PGBIN/pg_ctl" -D "$WORK_DIR/data" -l "$WORK_DIR/postgres.log" -w -t 60 start >/dev/null \
        || { tail -n 40 "$WORK_DIR/postgres.log" >&2; die "PostgreSQL did not start with AddressSanitizer"; }
    log "PostgreSQL restarted with the sanitizer build (LD_PRELOAD=$asan)"
}

# Succeeds when neither the server log nor a sanitizer log file holds a
# report; prints them otherwise.
dfw_sanitizer_reports() {
    local pattern='AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer'
    local files
    files=$(ls "$WORK_DIR"/asan.* 2>/dev/null || true)
    if [ -z "$files" ] && ! grep -Eq "$pattern" "$WORK_DIR/postgres.log"; then
        echo "sanitizers: no reports"
        return 0
    fi
    echo "sanitizers: reports found"
    grep -E -A 30 "$pattern" "$WORK_DIR/postgres.log" | head -n 200
    [ -z "$files" ] || head -n 200 $files
    return 1
}

# Back to the plain build on a cluster without the preload, so that the
# extension left installed loads into any server.
dfw_plain_cluster() {
    as_cluster_user "$PGBIN/pg_ctl" -D "$WORK_DIR/data" -m fast -w stop >/dev/null
    dfw_build_install
}

# The cluster runs as this user: the caller, or "postgres" when run as root
# (PostgreSQL refuses to run as root).
dfw_cluster_user() {
    if [ "$(id -u)" -eq 0 ]; then
        id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        echo postgres
    else
        id -un
    fi
}

as_cluster_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$CLUSTER_USER" -- "$@"; else "$@"; fi
}

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Run one of the emulator's servers (SCRIPT: graph_emulator.py, proxy.py, or
# a path below the repository such as test/checks/hostile_listener.py) in
# the background on a free loopback port and wait until it reports the port.
# NAME names its port and log files in WORK_DIR; the other arguments go to
# the script.  Sets LAUNCHED_PID and LAUNCHED_PORT.
launch_server() {
    local script=$1 name=$2 i
    shift 2
    local portfile="$WORK_DIR/$name.port" logfile="$WORK_DIR/$name.log"
    case "$script" in */*) script="$REPO_DIR/$script" ;; *) script="$REPO_DIR/test/emulator/$script" ;; esac
    "$PYTHON" "$script" --host 127.0.0.1 --port 0 \
        --port-file "$portfile" "$@" >"$logfile" 2>&1 &
    LAUNCHED_PID=$!
    for i in $(seq 1 100); do
        [ -s "$portfile" ] && break
        kill -0 "$LAUNCHED_PID" 2>/dev/null || { cat "$logfile" >&2; die "$name failed to start"; }
        sleep 0.1
    done
    [ -s "$portfile" ] || { kill "$LAUNCHED_PID" 2>/dev/null; die "$name did not report its port"; }
    LAUNCHED_PORT=$(tr -d '[:space:]' <"$portfile")
}

launch_emulator() { launch_server graph_emulator.py "$@"; }
launch_proxy() { launch_server proxy.py "$@"; }

# Start the emulator; sets EMULATOR_URL and EMULATOR_PID.
dfw_start_emulator() {
    launch_emulator emulator "$@"
    EMULATOR_PID=$LAUNCHED_PID
    EMULATOR_URL="http://127.0.0.1:$LAUNCHED_PORT"
    log "Graph emulator at $EMULATOR_URL"
}

# A self-signed certificate for 127.0.0.1/localhost and a second emulator
# serving HTTPS with it; sets EMULATOR_TLS_URL, EMULATOR_TLS_CA and
# EMULATOR_TLS_PID.  The certificate (its own CA) is world-readable, so the
# cluster user can use it as ca_file; the key stays private to this user.
dfw_start_tls_emulator() {
    EMULATOR_TLS_CA="$WORK_DIR/emulator_tls.crt"
    (umask 077; openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$WORK_DIR/emulator_tls.key" -out "$EMULATOR_TLS_CA" >/dev/null 2>&1) \
        || die "openssl could not generate the emulator's certificate"
    chmod 644 "$EMULATOR_TLS_CA"
    launch_emulator emulator_tls --tls-cert "$EMULATOR_TLS_CA" --tls-key "$WORK_DIR/emulator_tls.key" "$@"
    EMULATOR_TLS_PID=$LAUNCHED_PID
    EMULATOR_TLS_URL="https://127.0.0.1:$LAUNCHED_PORT"
    log "Graph emulator (TLS) at $EMULATOR_TLS_URL"
}

# Two proxies: an open one and one that demands credentials (the test's
# proxy_user/proxy_password).  Sets PROXY_URL, AUTH_PROXY_URL and their PIDs.
dfw_start_proxies() {
    launch_proxy proxy
    PROXY_PID=$LAUNCHED_PID
    PROXY_URL="http://127.0.0.1:$LAUNCHED_PORT"
    launch_proxy auth_proxy --user proxy-tester --password proxy-pass-value
    AUTH_PROXY_PID=$LAUNCHED_PID
    AUTH_PROXY_URL="http://127.0.0.1:$LAUNCHED_PORT"
    log "proxies at $PROXY_URL and $AUTH_PROXY_URL (with credentials)"
}

# The attacker's host of the security tests (test/checks/hostile_listener.py):
# it records every connection in HOSTILE_LOG, which must stay empty.  Sets
# HOSTILE_URL, HOSTILE_LOG and HOSTILE_PID.
dfw_start_hostile_listener() {
    HOSTILE_LOG="$WORK_DIR/hostile_requests.jsonl"
    launch_server test/checks/hostile_listener.py hostile --log "$HOSTILE_LOG"
    HOSTILE_PID=$LAUNCHED_PID
    HOSTILE_URL="http://127.0.0.1:$LAUNCHED_PORT"
    chmod 644 "$HOSTILE_LOG"
    log "hostile listener at $HOSTILE_URL (must receive nothing)"
}

# Test-only certificates for certificate credentials, made fresh each run
# (no private key is ever committed):
#   a.pem         certificate A and its key in one file (mode 600)
#   b.crt, b.key  certificate B and its key in two files (key mode 600)
#   c.pem         certificate C and its key, never registered with the emulator
#   loose.pem     a copy of a.pem that group and others can read (mode 644)
#   a.crt         A's certificate alone, to register it with the emulator
#   a.sha1        A's SHA-1 fingerprint as openssl prints it
#   loose_secret.txt  a client secret that group and others can read (mode 644)
# The files belong to the cluster's OS user, as a DBA would set them up.
dfw_make_certificates() {
    local dir="$WORK_DIR/certs" n
    CERT_DIR=$dir
    mkdir -p "$dir"
    for n in a b c; do
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=defender_fdw test $n" \
            -keyout "$dir/$n.key" -out "$dir/$n.crt" >/dev/null 2>&1 \
            || die "openssl could not generate test certificate $n"
    done
    cat "$dir/a.crt" "$dir/a.key" >"$dir/a.pem"
    cat "$dir/c.crt" "$dir/c.key" >"$dir/c.pem"
    cp "$dir/a.pem" "$dir/loose.pem"
    openssl x509 -in "$dir/a.crt" -noout -fingerprint -sha1 | sed 's/^.*=//' >"$dir/a.sha1"
    rm -f "$dir/a.key" "$dir/c.key" "$dir/c.crt"
    chmod 600 "$dir/a.pem" "$dir/b.key" "$dir/c.pem"
    chmod 644 "$dir/loose.pem" "$dir/a.crt" "$dir/b.crt" "$dir/a.sha1"
    # a client secret in a file that others may read (refused)
    printf 'test-secret-value\n' >"$dir/loose_secret.txt"
    chmod 644 "$dir/loose_secret.txt"
    chown -R "$CLUSTER_USER" "$dir" 2>/dev/null || true
    chmod 755 "$dir"
}

# dfw_initdb DATA PORT: a new cluster in DATA that listens on PORT, on a
# Unix socket in WORK_DIR only; the caller adds its own settings.
dfw_initdb() {
    local data=$1 port=$2
    as_cluster_user "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$data/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$WORK_DIR'
fsync = off
max_connections = 20
EOF
}

# initdb and start a throwaway cluster on a Unix socket in WORK_DIR; exports
# PGHOST, PGPORT, PGUSER and PGDATABASE for psql and pg_regress.
dfw_start_cluster() {
    local data="$WORK_DIR/data"
    CLUSTER_USER=$(dfw_cluster_user)
    chown "$CLUSTER_USER" "$WORK_DIR" 2>/dev/null || true
    chmod 755 "$WORK_DIR"
    PGPORT=$(free_port)
    dfw_initdb "$data" "$PGPORT"
    dfw_make_certificates
    cat >>"$data/postgresql.conf" <<EOF
log_line_prefix = '%m [%p] '
# test/checks/secrets_check.py reads this log: everything the server can say
# (the request lines are DEBUG1/DEBUG2) and every statement
log_min_messages = debug5
log_statement = all
# the cookbook test schedules its sync with pg_cron (jobs run in background
# workers: the cluster listens on a Unix socket only)
shared_preload_libraries = 'pg_cron'
# defender_fdw is not preloaded here: its per-backend token cache and
# governor are what these tests see; test/checks/shared_state.py runs a
# second cluster that preloads it.  The governor is off: the suite makes
# thousands of quick calls to one emulated tenant
defender_fdw.quota_governor = off
cron.database_name = 'postgres'
cron.use_background_workers = on
defender_test.emulator_url = '$EMULATOR_URL'
defender_test.emulator_tls_url = '$EMULATOR_TLS_URL'
defender_test.emulator_tls_ca = '$EMULATOR_TLS_CA'
defender_test.proxy_url = '$PROXY_URL'
defender_test.auth_proxy_url = '$AUTH_PROXY_URL'
defender_test.cert_dir = '$CERT_DIR'
defender_test.hostile_url = '$HOSTILE_URL'
defender_test.hostile_log = '$HOSTILE_LOG'
defender_test.pg_bin = '$PGBIN'
EOF
    as_cluster_user "$PGBIN/pg_ctl" -D "$data" -l "$WORK_DIR/postgres.log" -w -t 60 start >/dev/null \
        || { cat "$WORK_DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
    export PGHOST="$WORK_DIR" PGPORT PGUSER=postgres PGDATABASE=postgres
    log "PostgreSQL $PG_MAJOR on port $PGPORT (cluster owned by $CLUSTER_USER)"
}

# A second, small cluster that preloads defender_fdw (the main one does
# not): tokens and quotas in shared memory, for test/checks/shared_state.py.
# Same socket directory as the main cluster; sets PRELOAD_PGPORT.
dfw_start_preload_cluster() {
    local data="$WORK_DIR/preload"
    PRELOAD_PGPORT=$(free_port)
    dfw_initdb "$data" "$PRELOAD_PGPORT"
    cat >>"$data/postgresql.conf" <<EOF
shared_buffers = 16MB
shared_preload_libraries = 'defender_fdw'
EOF
    as_cluster_user "$PGBIN/pg_ctl" -D "$data" -l "$WORK_DIR/preload.log" -w -t 60 start >/dev/null \
        || { cat "$WORK_DIR/preload.log" >&2; die "PostgreSQL (preload) did not start"; }
    log "PostgreSQL with shared_preload_libraries = 'defender_fdw' on port $PRELOAD_PGPORT"
}

dfw_stop_preload_cluster() {
    as_cluster_user "$PGBIN/pg_ctl" -D "$WORK_DIR/preload" -m fast -w stop >/dev/null 2>&1
}

dfw_stop_all() {
    set +e
    if [ -n "${CLUSTER_USER:-}" ] && [ -d "${WORK_DIR:-}/data" ]; then
        as_cluster_user "$PGBIN/pg_ctl" -D "$WORK_DIR/data" -m fast -w stop >/dev/null 2>&1
    fi
    if [ -n "${CLUSTER_USER:-}" ] && [ -f "${WORK_DIR:-}/preload/postmaster.pid" ]; then
        dfw_stop_preload_cluster
    fi
    local pid
    for pid in "${EMULATOR_PID:-}" "${EMULATOR_TLS_PID:-}" "${PROXY_PID:-}" "${AUTH_PROXY_PID:-}" "${HOSTILE_PID:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ -n "${WORK_DIR:-}" ] && [ -z "${KEEP_WORK_DIR:-}" ]; then
        rm -rf "$WORK_DIR"
    fi
}

# Everything up to a running cluster with the extension installed.
# DFW_USE_INSTALLED=1 uses the extension already installed in the server
# (by a package: test/package/check.sh) instead of building this tree.
dfw_setup() {
    # The extension is installed into the server's shared directories, so
    # two runs on one machine (two work trees) against the same server
    # would replace each other's build mid-run; the second waits for the
    # first.  Runs against different servers (PG_CONFIG of another copy)
    # take different locks and run side by side.
    local lock_key
    lock_key=$({ "$PG_CONFIG" --sharedir 2>/dev/null || true; } | cksum | cut -d' ' -f1)
    exec 9>"${DFW_LOCK_FILE:-/tmp/defender_fdw.install.${lock_key}.lock}"
    if ! flock -n 9; then
        log "waiting for another run against the same server (lock ${DFW_LOCK_FILE:-/tmp/defender_fdw.install.${lock_key}.lock})"
        flock 9
    fi
    dfw_install_packages
    if [ "${DFW_USE_INSTALLED:-0}" = 1 ]; then
        [ -f "$("$PG_CONFIG" --sharedir)/extension/defender_fdw.control" ] \
            || die "defender_fdw is not installed in $("$PG_CONFIG" --sharedir)"
        log "using the installed defender_fdw, not building this tree"
    else
        dfw_build_install
    fi
    WORK_DIR=$(mktemp -d /tmp/defender_fdw.XXXXXX)
    trap dfw_stop_all EXIT
    dfw_start_emulator "$@"
    dfw_start_tls_emulator "$@"
    dfw_start_proxies
    dfw_start_hostile_listener
    dfw_start_cluster
}
