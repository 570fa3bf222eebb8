#!/usr/bin/python3
"""README.md's reference lists name every option, SQL function and package.

Options: each entry of valid_options[] in src/options/option.c (name and the
catalog it belongs to) must be a row of the README's table for that
object: "### Server", "### User mapping" or "### Foreign table and columns"
(column options included), or of such a table in a page of doc/, as `name` in the first cell (a cell may list
several, `table`, `query`).  Functions: each CREATE FUNCTION of the
extension's SQL scripts (defender_fdw--*.sql) must be named in the first
column of the "## SQL functions" table.  Packages: each Debian package of
PACKAGES and TEST_PACKAGES in scripts/lib.sh must be named in the Quick
start, which says what the scripts install.

Usage: test/checks/doc_reference.py [REPO_DIR]
"""

import glob
import os
import re
import sys

from verdict import report

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
TABLES = {"ForeignServerRelationId": "### Server",
          "UserMappingRelationId": "### User mapping",
          "ForeignTableRelationId": "### Foreign table and columns",
          "AttributeRelationId": "### Foreign table and columns"}


def section(readme, heading):
    """The text from the heading to the next heading of any level ("" if none)."""
    start = readme.find("\n" + heading + "\n")
    if start < 0:
        return ""
    following = re.search(r"\n#+ ", readme[start + len(heading) + 2:])
    end = start + len(heading) + 2 + following.start() if following else len(readme)
    return readme[start:end]


def first_cells(text):
    """The `names` in the first cell of each table row."""
    names = set()
    for line in text.split("\n"):
        if line.startswith("|") and not line.startswith("|---"):
            first = line.split("|")[1]
            names.update(re.findall(r"`(?:column )?([a-z_]+)", first))
    return names


def main():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(REPO, "src", "options", "option.c"), encoding="utf-8") as f:
        option_c = f.read()
    table = option_c[option_c.index("valid_options[] = {"):]
    table = table[:table.index("};")]
    options = re.findall(r'\{"([a-z_]+)", (\w+)\}', table)
    functions = set()
    for script in glob.glob(os.path.join(REPO, "defender_fdw--*.sql")):
        with open(script, encoding="utf-8") as f:
            functions.update(re.findall(r"^CREATE FUNCTION (\w+)\(", f.read(), re.M))

    with open(os.path.join(REPO, "scripts", "lib.sh"), encoding="utf-8") as f:
        lib_sh = f.read()
    packages = []
    for name in ("PACKAGES", "TEST_PACKAGES"):
        listing = re.search(r"^%s=\((.*?)\)" % name, lib_sh, re.M | re.S).group(1)
        packages += [p.strip('"').replace("$PG_MAJOR", "15") for p in listing.split()]

    problems = []
    if not options or not functions or not packages:
        problems.append("found no options in src/options/option.c or no functions in the SQL scripts")
    # a topic's page under doc/ may document its own options (doc/scaling.md)
    pages = []
    for page in sorted(glob.glob(os.path.join(REPO, "doc", "*.md"))):
        with open(page, encoding="utf-8") as f:
            pages.append(f.read())
    for name, context in options:
        heading = TABLES[context]
        if not any(name in first_cells(section(text, heading)) for text in [readme] + pages):
            problems.append("option %s (%s) is not in README.md's table under %s" % (name, context, heading))
    listed = first_cells(section(readme, "## SQL functions"))
    for name in sorted(functions - listed):
        problems.append("function %s() is not in README.md's table under ## SQL functions" % name)

    quick_start = section(readme, "## Quick start: two commands")
    for package in packages:
        if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(package), quick_start):
            problems.append("package %s (scripts/lib.sh) is not named in README.md's Quick start" % package)

    scripts = sorted(os.path.basename(s) for s in glob.glob(os.path.join(REPO, "defender_fdw--*.sql")))
    return report("doc_reference", problems,
                  "the README lists all %d options (src/options/option.c), %d functions (%s) and %d packages "
                  "(scripts/lib.sh)" % (len(options), len(functions), ", ".join(scripts), len(packages)))


if __name__ == "__main__":
    sys.exit(main())
