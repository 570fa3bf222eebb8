#!/usr/bin/env bash
# bench/run.sh: defender_fdw's benchmark suite (issue 7); see bench/README.md.
#
# Installs what is missing, builds and installs the extension, starts the
# Graph emulator and a throwaway cluster (scripts/lib.sh), then measures
# hunting throughput, incident paging under latency, point lookups, the
# request economy of a query battery, the result cache, and the token
# requests and quota governor with and without preload, all side by side
# against the same emulator on loopback.  Prints a table and writes
# bench/results.md.  Takes about 1-2 minutes.
#
#   sudo bench/run.sh            (or as root)
#   bench/run.sh --quick         tiny sizes, one repetition: a smoke test (~30 s);
#                                writes bench/results-quick.md instead
#   bench/run.sh --only 1,3      only these sections
#   bench/run.sh --profile 1     perf's profile of the backend over section 1's
#                                hunting COPY (needs perf: linux-perf); no results file
#   bench/run.sh --profile 3     the same over section 3's PL/pgSQL loop of lookups
#   bench/run.sh --profile 3 --profiler strace   its system calls instead (strace -c)
#   bench/run.sh --callgrind 1   callgrind's instruction count of section 1's hunting COPY
#   bench/run.sh --callgrind 2   the same of an incidents list scan (5,000 rows, 5 columns)
#                                (single-user backend, load-independent); no results file
#   KEEP_WORK_DIR=1 ...          keeps the cluster and emulator logs

source "$(dirname "$0")/../scripts/lib.sh"

out="$REPO_DIR/bench/results.md"
for arg in "$@"; do
    [ "$arg" = "--quick" ] && out="$REPO_DIR/bench/results-quick.md"
done

dfw_setup
# section 6 compares with a cluster that preloads the library
dfw_start_preload_cluster

log "benchmark"
"$PYTHON" "$REPO_DIR/bench/bench.py" --emulator "$EMULATOR_URL" --pgbin "$PGBIN" --out "$out" \
    --preload-port "$PRELOAD_PGPORT" "$@"
case " $* " in *" --profile "*|*" --callgrind "*) ;; *) log "wrote ${out#"$REPO_DIR"/}" ;; esac
