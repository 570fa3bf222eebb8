#!/usr/bin/env python3
"""test/checks/secrets_check.py: prove no secret reached the server log.

Run by scripts/test.sh after the regression suite, with the cluster logging
every statement and DEBUG2 messages (see dfw_start_cluster).  It asks the
emulator for every access token it issued during the run and fails if any
of them, or any client secret the tests put in a user mapping, appears in
the server log.

Entries that only repeat what the user typed (the "STATEMENT:" line that
follows an error) are skipped: PostgreSQL logs a failed CREATE/ALTER USER
MAPPING with its secret, and some tests search their own output for the
secret.  What is checked is everything the extension says: ERROR, DETAIL,
HINT, CONTEXT, WARNING and its DEBUG1/DEBUG2 request lines.

    secrets_check.py POSTGRES_LOG EMULATOR_URL SQL_FILE...
"""

import json
import re
import sys
import urllib.request

ENTRY_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
USER_TEXT = re.compile(r"^\S+ \S+ \S+ \[\d+\] (LOG:  statement|STATEMENT): ")
SECRET_IN_SQL = re.compile(r"(?:client_secret|proxy_password)\s+'([^']{6,})'")


def log_entries(path):
    entry = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if ENTRY_START.match(line) and entry:
                yield "".join(entry)
                entry = []
            entry.append(line)
    if entry:
        yield "".join(entry)


def main(argv):
    log_path, emulator_url, sql_files = argv[1], argv[2], argv[3:]
    with urllib.request.urlopen(emulator_url.rstrip("/") + "/_emulator/tokens") as r:
        tokens = json.load(r)["tokens"]
    secrets = set()
    for path in sql_files:
        with open(path, encoding="utf-8") as f:
            secrets.update(SECRET_IN_SQL.findall(f.read()))
    if not tokens or not secrets:
        print("secrets_check: nothing to look for (%d tokens, %d secrets)"
              % (len(tokens), len(secrets)), file=sys.stderr)
        return 1

    entries = skipped = leaks = 0
    for entry in log_entries(log_path):
        entries += 1
        if USER_TEXT.match(entry):
            skipped += 1
            continue
        for what, values in (("access token", tokens), ("client secret", secrets)):
            for value in values:
                if value in entry:
                    leaks += 1
                    print("secrets_check: %s in the server log:\n%s"
                          % (what, entry.replace(value, "<" + what + ">")),
                          file=sys.stderr)
    print("secrets_check: %d log entries, %d tokens and %d secrets looked for, "
          "%d statement texts skipped, %d leaks"
          % (entries, len(tokens), len(secrets), skipped, leaks))
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
