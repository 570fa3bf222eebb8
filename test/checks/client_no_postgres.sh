#!/bin/bash
# test/checks/client_no_postgres.sh: nothing under src/client/ may use PostgreSQL.
#
# The client layer (libcurl, OpenSSL, jansson) runs where ereport and palloc
# must not (libcurl's callbacks) and links into test/client/client_driver.c without a
# backend, so it must not include a PostgreSQL header.  Two ways to see it:
# every quoted #include names a header of src/client/ itself, and every file
# compiles with no PostgreSQL include directory on the path.
set -u
repo=${1:?usage: client_no_postgres.sh REPO_DIR}
dir="$repo/src/client"
status=0
for f in "$dir"/*.c "$dir"/*.h; do
    while read -r hdr; do
        if [ ! -f "$dir/$hdr" ]; then
            echo "$f includes \"$hdr\", which is not a header of src/client/" >&2
            status=1
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
for f in "$dir"/*.c; do
    # shellcheck disable=SC2046
    if ! gcc -fsyntax-only -Wall -Werror -I"$dir" $(pkg-config --cflags libcurl jansson libcrypto) "$f"; then
        echo "$f does not compile without PostgreSQL's headers" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "src/client/: $(ls "$dir"/*.c "$dir"/*.h | wc -l) files, no PostgreSQL header"
exit "$status"
