#!/usr/bin/env bash
# scripts/demo.sh: the main job of defender_fdw, end to end, on this machine.
#
# Installs what is missing, builds and installs the extension, starts the
# bundled Graph emulator and a throwaway cluster, runs demo/demo.sql (create
# the server, query incidents, join them with a local table, show an error)
# and cleans up.
#
#   sudo scripts/demo.sh        (or as root)

source "$(dirname "$0")/lib.sh"

dfw_setup --incidents 130 --seed 7
log "running demo/demo.sql"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$REPO_DIR/demo/demo.sql"
log "demo finished; cleaning up"
