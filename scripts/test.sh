#!/usr/bin/env bash
# scripts/test.sh: run defender_fdw's whole test suite.
#
# On a fresh Debian 12 machine this installs what is missing, builds the
# extension with warnings as errors, starts the Graph emulator and a
# throwaway cluster, runs the emulator's self-test and the pg_regress
# suite, prints a summary and cleans up.  Exits non-zero when any test fails.
#
#   sudo scripts/test.sh        (or as root; PG_CONFIG=... to pick a server)
#   KEEP_WORK_DIR=1 ...         keeps the cluster, emulator and server logs
#   TESTS="setup scan" ...      runs only these regression tests (setup first)
#   SANITIZE=0 ...              skips the AddressSanitizer + UBSan pass
#   FUZZ_SECONDS=20 ...         how long each libFuzzer target runs
#   PROPERTY_COUNT=3000 ...      generated endpoints (PROPERTY_SEED=N replays a run)
#   DIFF_QUERIES=2000 ...       how many queries test/checks/differential.py runs
#   DIFF_CAP_QUERIES=300 ...    how many it runs past the hunting cap, each cap mode
#   PACKAGE_CHECK=0 ...         skips the Debian package check

source "$(dirname "$0")/lib.sh"
PACKAGES+=("${TEST_PACKAGES[@]}")
SUITE_START=$(date +%s)

passed=0
failed=0

# run_check LABEL COMMAND...: one check of the count, passed when COMMAND
# succeeds.
run_check() {
    log "$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
}

# First, before this tree is built and installed: the package check
# installs the .deb into the system PostgreSQL and purges it again (and
# removes what an earlier make install left there), so the suite's own
# make install below is unaffected.
if [ "${PACKAGE_CHECK:-1}" != 0 ]; then
    run_check "Debian package: build, lintian, dpkg -i, the regression suite, purge (test/package/check.sh)" \
        bash "$REPO_DIR/test/package/check.sh"
fi

dfw_setup

run_check "META.json against the PGXN meta spec (test/checks/pgxn_meta.py)" \
    "$PYTHON" "$REPO_DIR/test/checks/pgxn_meta.py" "$REPO_DIR"

run_check "the docs' options, functions and packages against src/options/option.c, the SQL scripts and lib.sh (test/checks/doc_reference.py)" \
    "$PYTHON" "$REPO_DIR/test/checks/doc_reference.py" "$REPO_DIR"

# The layers of src/ (listed in src/defender_fdw.h) call downwards only:
# read from the objects dfw_setup just built.
run_check "no call cycle between the files or folders of src/ (test/checks/no_call_cycles.py)" \
    "$PYTHON" "$REPO_DIR/test/checks/no_call_cycles.py" "$REPO_DIR"

run_check "no library function defender_fdw calls is shadowed by the server's own (test/checks/symbol_clash.sh)" \
    bash "$REPO_DIR/test/checks/symbol_clash.sh" "$REPO_DIR" "$PGBIN/postgres"

log "emulator self-test"
if out=$(cd "$REPO_DIR" && "$PYTHON" -m unittest discover -s test/emulator/tests -p 'test_*.py' 2>&1); then
    status=0
else
    status=1
fi
echo "$out" | tail -n 4
ran=$(echo "$out" | sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' | tail -n 1)
ran=${ran:-0}
if [ "$status" -eq 0 ]; then
    passed=$((passed + ran))
else
    bad=$(echo "$out" | sed -n 's/.*FAILED (\(.*\))/\1/p' | grep -o '[0-9]\+' | awk '{s+=$1} END {print s+0}')
    [ "${bad:-0}" -gt 0 ] || bad=1
    passed=$((passed + ran - bad))
    failed=$((failed + bad))
    echo "$out" >&2
fi

# run_regress LABEL: pg_regress over the REGRESS list (or TESTS) against the
# running cluster; adds to passed/failed and prints the diffs on failure.
run_regress() {
    local status n line bad all
    log "regression tests (pg_regress)$1"
    rm -rf "$REPO_DIR/results" "$REPO_DIR/regression.diffs" "$REPO_DIR/regression.out"
    if make -C "$REPO_DIR" -s installcheck PG_CONFIG="$PG_CONFIG" ${TESTS:+REGRESS="$TESTS"} >"$WORK_DIR/installcheck.log" 2>&1; then
        status=0
    else
        status=1
    fi
    cat "$WORK_DIR/installcheck.log"
    if grep -Eq 'All [0-9]+ tests passed' "$WORK_DIR/installcheck.log"; then
        n=$(grep -Eo 'All [0-9]+ tests passed' "$WORK_DIR/installcheck.log" | grep -Eo '[0-9]+')
        passed=$((passed + n))
    else
        line=$(grep -Eo '[0-9]+ of [0-9]+ tests (failed|passed)' "$WORK_DIR/installcheck.log" | head -n 1 || true)
        if [ -n "$line" ]; then
            bad=$(echo "$line" | awk '{print $1}')
            all=$(echo "$line" | awk '{print $3}')
            passed=$((passed + all - bad))
            failed=$((failed + bad))
        else
            failed=$((failed + 1))
        fi
        status=1
    fi
    if [ "$status" -ne 0 ] && [ -f "$REPO_DIR/regression.diffs" ]; then
        log "regression.diffs"
        cat "$REPO_DIR/regression.diffs"
    fi
}

run_regress ""

run_check "memory and file descriptors over 5,000 scans in one backend" \
    "$PYTHON" "$REPO_DIR/test/checks/memory_check.py" "$EMULATOR_URL"

run_check "quoting: random strings through WHERE, parsed back by the emulator" \
    "$PYTHON" "$REPO_DIR/test/checks/quoting_check.py" "$EMULATOR_URL"

run_check "every SQL example of README.md and doc/*.md, as written, in reading order, against the emulator (test/checks/doc_examples.py)" \
    "$PYTHON" "$REPO_DIR/test/checks/doc_examples.py" "$PGBIN/psql" "$EMULATOR_URL"

# Random queries, each with pushdown on and off: any difference fails.  A
# fresh seed every run (printed; --seed N replays it); DIFF_QUERIES=N to
# run more or fewer.
run_check "differential: ${DIFF_QUERIES:-2000} random queries with pushdown on and off" \
    "$PYTHON" "$REPO_DIR/test/checks/differential.py" "$EMULATOR_URL" --queries "${DIFF_QUERIES:-2000}"
# The same past advanced hunting's row cap (issue 17): a cap of 40 rows
# (the tables hold 300), answered as a refusal and as a silent cut; every
# hunting scan that reaches it is split into time windows both ways.
for mode in refuse cut; do
    run_check "differential past the hunting cap ($mode): ${DIFF_CAP_QUERIES:-300} random queries" \
        "$PYTHON" "$REPO_DIR/test/checks/differential.py" "$EMULATOR_URL" --queries "${DIFF_CAP_QUERIES:-300}" \
        --hunting-cap 40 --cap-mode "$mode"
done

# Issue 16: one token and one quota per tenant, with and without
# shared_preload_libraries = 'defender_fdw' (a second cluster preloads it).
dfw_start_preload_cluster
run_check "shared tokens and quota governor, preload and not (test/checks/shared_state.py)" \
    "$PYTHON" "$REPO_DIR/test/checks/shared_state.py" "$EMULATOR_URL" "$WORK_DIR" "$PGPORT" "$PRELOAD_PGPORT"
dfw_stop_preload_cluster

# After everything that ran in the cluster (the regression suite, the
# memory, the quoting and the differential checks, the README's examples), with
# log_min_messages = debug5 and
# log_statement = all.
run_check "secrets in the server log" \
    "$PYTHON" "$REPO_DIR/test/checks/secrets_check.py" "$WORK_DIR/postgres.log" "$EMULATOR_URL" "$REPO_DIR"/sql/*.sql

# Issue 13's property: generated endpoints are refused before any I/O or
# reach only the emulator; the hostile listener heard nothing, all run long.
run_check "endpoints: ${PROPERTY_COUNT:-3000} generated, none may leave graph_url/mde_url" \
    "$PYTHON" "$REPO_DIR/test/checks/endpoint_property.py" "$EMULATOR_URL" "$HOSTILE_URL" \
    "$HOSTILE_LOG" "$WORK_DIR/postgres.log"

run_check "src/client/ includes no PostgreSQL header (test/checks/client_no_postgres.sh)" \
    bash "$REPO_DIR/test/checks/client_no_postgres.sh" "$REPO_DIR"

# The hunting parser's JSON scanner against pg_parse_json itself: the same
# events and errors for bodies fed whole, split at every offset, byte by
# byte and in random pieces (built like the fuzz targets).  Twice: with
# the SSE2 skip over plain string bytes, and with the portable word trick
# other machines take (-DDFW_JSON_NO_SIMD).
for simd in "" -DDFW_JSON_NO_SIMD; do
run_check "JSON scanner = pg_parse_json, whole and in pieces (test/checks/json_scanner_check.c${simd:+, $simd})" \
    bash -c 'gcc -g -O1 -Wall -Wno-unused-function -Werror $4 -fsanitize=address,undefined \
        -fno-sanitize-recover=undefined -I"$1/src/json" -I"$("$2" --includedir-server)" \
        -o "$3/json_scanner_check" "$1/test/checks/json_scanner_check.c" -no-pie \
        -Wl,--unresolved-symbols=ignore-all -L"$("$2" --pkglibdir)" -lpgcommon -lpgport -lm \
        && ASAN_OPTIONS=detect_leaks=0 "$3/json_scanner_check"' _ "$REPO_DIR" "$PG_CONFIG" "$WORK_DIR" "$simd"
done

# List pages and entities are jansson trees built from the JSON scanner's
# events (src/json/json_tree.c): the same tree as jansson's own json_loadb,
# and a refusal wherever it refuses, on generated and mutated bodies.
run_check "JSON trees = jansson's json_loadb on 260,000 generated and mutated bodies (test/checks/json_tree_check.c)" \
    bash -c 'gcc -g -O1 -Wall -Wno-unused-function -Werror -fsanitize=address,undefined \
        -fno-sanitize-recover=undefined -I"$1/src/json" -I"$("$2" --includedir-server)" \
        $(pkg-config --cflags jansson) -o "$3/json_tree_check" "$1/test/checks/json_tree_check.c" -no-pie \
        -Wl,--unresolved-symbols=ignore-all -L"$("$2" --pkglibdir)" -lpgcommon -lpgport \
        $(pkg-config --libs jansson) -lm && ASAN_OPTIONS=detect_leaks=0 "$3/json_tree_check" "$4"' \
    _ "$REPO_DIR" "$PG_CONFIG" "$WORK_DIR" "${JSON_TREE_SEED:-$(date +%s)}"

# convert.c's number shortcuts (the fraction of a second without strtod,
# integers read from unterminated bytes) against the C library's parsers.
run_check "converter shortcuts = strtod and strtoll (test/checks/convert_check.c)" \
    bash -c 'gcc -g -O1 -Wall -Wno-unused-function -Werror -fsanitize=address,undefined \
        -fno-sanitize-recover=undefined $(for d in . client json remote plan scan functions catalog options; do echo -I"$1/src/$d"; done) \
        -I"$("$2" --includedir-server)" $(pkg-config --cflags libcurl jansson) \
        -o "$3/convert_check" "$1/test/checks/convert_check.c" -no-pie \
        -Wl,--unresolved-symbols=ignore-all -L"$("$2" --pkglibdir)" -lpgcommon -lpgport \
        $(pkg-config --libs libcurl jansson) -lm && "$3/convert_check"' _ "$REPO_DIR" "$PG_CONFIG" "$WORK_DIR"

# Twice: with the epoll set and wake descriptor (Linux), and with the
# poll() path every other system takes (-DDFW_CLIENT_NO_EPOLL).
for variant in epoll poll; do
    log "client layer under valgrind, $variant path (test/client/client_driver.c)"
    if gcc -Wall -Wextra -Werror -g -O1 $([ "$variant" = poll ] && echo -DDFW_CLIENT_NO_EPOLL) \
            -I"$REPO_DIR/src/client" -o "$WORK_DIR/client_driver_$variant" \
            "$REPO_DIR/test/client/client_driver.c" "$REPO_DIR/src/client/defender_client.c" \
            "$REPO_DIR/src/client/url.c" "$REPO_DIR/src/client/graph_response.c" \
            "$REPO_DIR/src/client/wake_fd.c" \
            $(pkg-config --cflags --libs libcurl jansson) \
        && valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
            "$WORK_DIR/client_driver_$variant" "$EMULATOR_URL" "$EMULATOR_TLS_URL" "$EMULATOR_TLS_CA"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done

log "fuzzing the literal writers, the converter and the JSON scanner (${FUZZ_SECONDS:-20} s each)"
if make -C "$REPO_DIR/test/fuzz" -s clean all run PG_CONFIG="$PG_CONFIG" FUZZ_SECONDS="${FUZZ_SECONDS:-20}" \
        WORK="$WORK_DIR/fuzz"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi
make -C "$REPO_DIR/test/fuzz" -s clean >/dev/null 2>&1 || true

# The same regression suite against a build of the extension with
# AddressSanitizer and UndefinedBehaviorSanitizer (SANITIZE=0 skips it).
# Any report in the server log or in the sanitizers' own log files fails
# the run, on top of the regression failures an aborted backend causes.
if [ "${SANITIZE:-1}" != 0 ]; then
    dfw_sanitizer_cluster
    run_regress " under AddressSanitizer + UBSan"
    # the error paths and the literal writers once more, under ASan; the
    # memory figures mean nothing there (quarantine), fds and errors do
    log "1,000 scans with errors and the quoting check under AddressSanitizer"
    if MEMCHECK_SCANS=1000 MEMCHECK_WARMUP=100 MEMCHECK_LIMIT_MB=0 \
            "$PYTHON" "$REPO_DIR/test/checks/memory_check.py" "$EMULATOR_URL" \
        && QUOTING_COUNT=60 "$PYTHON" "$REPO_DIR/test/checks/quoting_check.py" "$EMULATOR_URL"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    log "sanitizer reports"
    if dfw_sanitizer_reports; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    dfw_plain_cluster
fi

if [ "$failed" -gt 0 ] && [ -n "${CI:-}" ]; then
    log "server log (last 80 lines)"
    tail -n 80 "$WORK_DIR/postgres.log" || true
fi

log "total time $(( $(date +%s) - SUITE_START )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
