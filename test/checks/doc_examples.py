#!/usr/bin/python3
"""Every SQL example of the documentation, run as written against the emulator.

Takes each ```sql block of README.md and of the manual's pages doc/*.md,
in reading order, and runs it with psql (ON_ERROR_STOP) in a throwaway
database of the running test cluster, one psql session per block, so that
later examples see the objects earlier ones created, as a reader going
through the manual would.  Any error fails the check, naming the file and
line of the block.

Reading order (reading_order()): README.md, then the doc/ pages in the
order the README's table of contents (its "## Contents" section) links to
them, then any page it does
not link to, by name; a page it links to that does not exist is skipped.
So a page may use what the pages before it in the table of contents
created (doc/install.md makes the server, the user mapping and the graph
tables), and the table of contents is the one place that decides.

The examples point the server at http://127.0.0.1:8080 (the port
doc/install.md starts the emulator on); this check replaces that URL
with the emulator of the test run, and changes nothing else.

Two marks, each an HTML comment (GitHub does not show it) on the line just
before a block's fence, with a reason that is required and printed on every
run:

    <!-- doc-test: rollback: why -->   runs the block in a transaction that
        is rolled back: for alternatives (another credential for the same
        role, a proxy there is none of) that would change what the examples
        after them see;
    <!-- doc-test: skip: why -->       does not run it at all: for a block
        that cannot run against the emulator or in a throwaway database.

Keep both few.  Roles the examples create are dropped afterwards, with the
database.

Usage: doc_examples.py PSQL EMULATOR_URL [FILE.md ...]
(connection from PGHOST, PGPORT, PGUSER, as for psql)
"""

import glob
import os
import re
import subprocess
import sys
import urllib.request

from verdict import report

README_URL = "http://127.0.0.1:8080"
MARK = re.compile(r"^\s*<!--\s*doc-test:\s*(skip|rollback):\s*(\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def sql_blocks(path):
    """(line number, sql text, mark or None, its reason) of each ```sql block"""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        start = i
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang != "sql":
            continue
        mark = reason = None
        j = start - 1
        while j >= 0 and lines[j].strip() == "":
            j -= 1
        if j >= 0:
            m = MARK.match(lines[j])
            if m:
                mark, reason = m.group(1), m.group(2)
        yield start + 1, "\n".join(body) + "\n", mark, reason


def reading_order(repo):
    """README.md, the doc/*.md pages in the order the README's "## Contents"
    section links to them, then the pages it does not link to, sorted by
    name."""
    readme = os.path.join(repo, "README.md")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    contents = re.search(r"^## Contents\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if contents is None:
        raise SystemExit("doc_examples: README.md has no '## Contents' section to take the reading order from")
    linked = re.findall(r"\]\((doc/[^)#\s]+\.md)(?:#[^)]*)?\)", contents.group(1))
    pages = sorted(glob.glob(os.path.join(repo, "doc", "*.md")))
    order = [readme]
    for link in linked:
        path = os.path.join(repo, link)
        if path in pages and path not in order:
            order.append(path)
    return order + [p for p in pages if p not in order]


def psql(psql_bin, db, sql):
    return subprocess.run([psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"],
                          input=sql, capture_output=True, text=True)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    psql_bin, emulator_url = sys.argv[1], sys.argv[2].rstrip("/")
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    files = sys.argv[3:] or reading_order(repo)

    # the emulator's default fixtures, whatever earlier tests did
    req = urllib.request.Request(emulator_url + "/_emulator/reset", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()

    db = "doc_examples_%d" % os.getpid()
    listing = subprocess.run([psql_bin, "-X", "-At", "-d", "postgres", "-c", "SELECT rolname FROM pg_roles"],
                             capture_output=True, text=True, check=True)
    roles_before = set(listing.stdout.split())
    subprocess.run([psql_bin, "-X", "-q", "-d", "postgres", "-c", "CREATE DATABASE %s" % db], check=True)

    ran = skipped = rolled_back = 0
    failures = []
    try:
        for path in files:
            name = os.path.relpath(path, repo)
            for line, sql, mark, reason in sql_blocks(path):
                if mark == "skip":
                    skipped += 1
                    print("doc_examples: %s:%d skipped: %s" % (name, line, reason))
                    continue
                sql = sql.replace(README_URL, emulator_url)
                if mark == "rollback":
                    rolled_back += 1
                    print("doc_examples: %s:%d rolled back: %s" % (name, line, reason))
                    sql = "BEGIN;\n" + sql + "\nROLLBACK;\n"
                result = psql(psql_bin, db, sql)
                ran += 1
                if result.returncode != 0:
                    failures.append("the block at %s:%d failed:\n%s\n%s\n"
                                    % (name, line, sql.rstrip(), result.stderr.rstrip()))
    finally:
        subprocess.run([psql_bin, "-X", "-q", "-d", "postgres", "-c", "DROP DATABASE IF EXISTS %s" % db])
        listing = subprocess.run([psql_bin, "-X", "-At", "-d", "postgres", "-c", "SELECT rolname FROM pg_roles"],
                                 capture_output=True, text=True)
        for role in sorted(set(listing.stdout.split()) - roles_before):
            subprocess.run([psql_bin, "-X", "-q", "-d", "postgres", "-c", 'DROP ROLE "%s"' % role])

    if ran == 0:
        failures.append("no SQL block ran")
    return report("doc_examples", failures, "%d SQL blocks ran (%d of them rolled back), %d skipped"
                  % (ran, rolled_back, skipped))

if __name__ == "__main__":
    sys.exit(main())
