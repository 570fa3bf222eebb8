#!/usr/bin/env bash
# test/package/check.sh: the Debian package, built and tested as a user
# would get it.
#
# Builds postgresql-$PG_MAJOR-defender-fdw with dpkg-buildpackage from a
# clean copy of this tree (its tracked and new files, no build products),
# runs lintian (clean but for the overrides explained in debian/), checks
# the package's files, installs it with dpkg -i into the system PostgreSQL
# (/usr/lib/postgresql/$PG_MAJOR), runs the pg_regress suite against the
# installed package with the emulator and cluster of scripts/lib.sh, checks
# that the tested files were the package's (dpkg --verify), and purges it.
#
# It installs into the SYSTEM PostgreSQL whatever PG_CONFIG says, as root
# or through sudo.  Files of defender_fdw that a `make install` left there
# are removed first, so that only the package's can be tested; a test
# suite run with the system server installs its build again afterwards.
# scripts/test.sh runs this first (PACKAGE_CHECK=0 skips it there).
#
#   test/package/check.sh               the whole regression suite
#   TESTS="setup upgrade" ...           a subset (setup first)
#   KEEP_WORK_DIR=1 ...                 keep the build and the cluster

source "$(dirname "$0")/../../scripts/lib.sh"
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PACKAGES+=("${TEST_PACKAGES[@]}")
PACKAGE=postgresql-$PG_MAJOR-defender-fdw
# Serializes with other runs of this check; dfw_setup's own lock is for
# builds of a tree, which this does not do.
DFW_LOCK_FILE=/tmp/defender_fdw.package-check.cluster.lock
exec 8>/tmp/defender_fdw.package-check.lock
flock 8

dfw_install_packages
LIB_DIR=$("$PG_CONFIG" --pkglibdir)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension

package_installed() {
    dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q "install ok installed"
}

# The extension's files in the server's directories, whoever put them there.
installed_files() {
    local f
    for f in "$LIB_DIR"/defender_fdw.so "$LIB_DIR"/bitcode/defender_fdw* "$EXT_DIR"/defender_fdw*; do
        [ -e "$f" ] && echo "$f"
    done
    return 0
}

if package_installed; then
    log "purging $PACKAGE left installed by an earlier run"
    $SUDO dpkg --purge "$PACKAGE" >/dev/null
fi
for f in $(installed_files); do
    if dpkg -S "$f" >/dev/null 2>&1; then
        die "$f belongs to a package ($(dpkg -S "$f" 2>/dev/null | cut -d: -f1)); remove it first"
    fi
    log "removing $f (left by make install)"
    $SUDO rm -rf "$f"
done

BUILD_DIR=$(mktemp -d /tmp/defender_fdw.package.XXXXXX)
chmod 755 "$BUILD_DIR"
cleanup() {
    set +e
    dfw_stop_all
    if package_installed; then
        $SUDO dpkg --purge "$PACKAGE" >/dev/null || echo "error: could not purge $PACKAGE" >&2
    fi
    [ -n "${KEEP_WORK_DIR:-}" ] || rm -rf "$BUILD_DIR"
}
trap cleanup EXIT

VERSION=$(dpkg-parsechangelog -l "$REPO_DIR/debian/changelog" -S Version)
SRC=$BUILD_DIR/defender-fdw-$VERSION
mkdir "$SRC"
(cd "$REPO_DIR" && git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$SRC"

log "building $PACKAGE $VERSION (dpkg-buildpackage -us -uc -b)"
if ! (cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$BUILD_DIR/build.log" 2>&1; then
    tail -n 60 "$BUILD_DIR/build.log"
    die "dpkg-buildpackage failed (log above)"
fi
DEB=$(ls "$BUILD_DIR/${PACKAGE}_${VERSION}_"*.deb)
CHANGES=$(ls "$BUILD_DIR"/defender-fdw_"${VERSION}"_*.changes)

log "lintian (every tag fails, pedantic ones too, but those debian/lintian-overrides explains)"
if ! lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$CHANGES" \
        2> >(grep -v 'running with root privileges is not recommended' >&2); then
    die "lintian found problems (above)"
fi
echo "lintian: clean (overrides: $(grep -c '^[a-z]' "$REPO_DIR/debian/lintian-overrides"))"

# The package holds exactly the library, the control file, every SQL
# script of the tree (each version and upgrade), the hunting schema, the
# docs (README.md and the manual's pages doc/*.md, uncompressed) and the
# lintian overrides.
log "files of $(basename "$DEB")"
dpkg -c "$DEB"
expected=$(
    echo "./usr/lib/postgresql/$PG_MAJOR/lib/defender_fdw.so"
    for f in "$REPO_DIR"/defender_fdw.control "$REPO_DIR"/defender_fdw--*.sql "$REPO_DIR"/defender_fdw_hunting_schema.txt; do
        echo "./usr/share/postgresql/$PG_MAJOR/extension/$(basename "$f")"
    done
    for f in README.md changelog.gz copyright; do echo "./usr/share/doc/$PACKAGE/$f"; done
    for f in "$REPO_DIR"/doc/*.md; do echo "./usr/share/doc/$PACKAGE/doc/$(basename "$f")"; done
    echo "./usr/share/lintian/overrides/$PACKAGE"
)
actual=$(dpkg -c "$DEB" | awk '$1 !~ /^d/ {print $6}')
if [ "$(echo "$expected" | sort)" != "$(echo "$actual" | sort)" ]; then
    diff <(echo "$expected" | sort) <(echo "$actual" | sort) | sed 's/^</missing:/; s/^>/unexpected:/' | grep -E '^(missing|unexpected)'
    die "the package's files are not the expected ones"
fi

log "installing $(basename "$DEB") (dpkg -i)"
$SUDO dpkg -i "$DEB" >/dev/null || die "dpkg -i failed"
for f in $(installed_files); do
    [ "$(dpkg -S "$f" 2>/dev/null | cut -d: -f1)" = "$PACKAGE" ] || die "$f is not $PACKAGE's"
done

DFW_USE_INSTALLED=1 dfw_setup
trap cleanup EXIT

log "regression tests (pg_regress) against the installed package"
status=0
make -C "$SRC" -s installcheck PG_CONFIG="$PG_CONFIG" ${TESTS:+REGRESS="$TESTS"} \
    >"$BUILD_DIR/installcheck.log" 2>&1 || status=1
cat "$BUILD_DIR/installcheck.log"
# What the server loaded must be what the package installed: another
# `make install` into the same server during the run would replace it.
# (dpkg --verify lists the files that differ, and exits 0 all the same)
changed=$($SUDO dpkg --verify "$PACKAGE" 2>&1) || true
if [ -n "$changed" ]; then
    echo "$changed"
    die "$PACKAGE's files were replaced during the run (dpkg --verify above): another make install into $LIB_DIR? The results are not the package's"
fi
if [ "$status" -ne 0 ]; then
    [ -f "$SRC/regression.diffs" ] && cat "$SRC/regression.diffs"
    die "the regression suite failed against the installed package"
fi

dfw_stop_all
$SUDO dpkg --purge "$PACKAGE" >/dev/null || die "dpkg --purge failed"
left=$(installed_files)
[ -z "$left" ] || die "files left after dpkg --purge: $left"
echo "package check passed: $PACKAGE $VERSION built, lintian clean, $(echo "$actual" | wc -l) files, installed, the suite passed, purged"
