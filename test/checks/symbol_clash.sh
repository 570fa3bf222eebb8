#!/usr/bin/env bash
# No library function defender_fdw calls is shadowed by the server.
#
# The postgres executable exports its own functions, and the dynamic linker
# looks there first: a call from defender_fdw.so to jansson's json_object()
# binds to PostgreSQL's SQL function json_object() and crashes the backend
# (it happened).  Every symbol defender_fdw.so takes from a versioned
# library (jansson, libcurl, OpenSSL: "name@library") must therefore not be
# defined by the server.  Prints each clash and exits 1.
#
# usage: symbol_clash.sh REPO_DIR POSTGRES_BINARY   (after make)
set -euo pipefail
so="$1/defender_fdw.so"
server="$2"
clashes=$(comm -12 \
    <(nm -D --undefined-only "$so" | awk '$2 ~ /@/ && $2 !~ /@GLIBC/ {sub(/@.*/, "", $2); print $2}' | sort -u) \
    <(nm -D --defined-only "$server" | awk '{print $3}' | sed 's/@.*//' | sort -u))
count=$(nm -D --undefined-only "$so" | awk '$2 ~ /@/ && $2 !~ /@GLIBC/' | wc -l)
if [ -n "$clashes" ]; then
    echo "symbol_clash: defender_fdw.so calls library functions the server also defines (the call would bind to the server's):"
    echo "$clashes" | sed 's/^/  /'
    exit 1
fi
echo "symbol_clash: none of the $count library symbols defender_fdw.so takes from jansson, libcurl and OpenSSL is defined by $(basename "$server")"
