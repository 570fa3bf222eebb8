#!/usr/bin/env python3
"""test/checks/quoting_check.py: random strings through WHERE clauses come back
exactly, as the emulator parsed them.

Run by scripts/test.sh against its cluster and emulator (PGHOST, PGPORT,
PGUSER set; the emulator's URL as the argument).  Generates COUNT random
strings (seeded; the seed is printed, QUOTING_SEED=... repeats a run) made
of quotes, doubled quotes, backslashes, control characters (no NUL: text
cannot hold it), OData and URL syntax (& = # % + $ / ? and spaces), KQL
syntax (| " ' // ;), non-ASCII letters, combining marks, characters beyond
the BMP and the odd lone byte-order mark, and sends each one through

  incidents:  WHERE assigned_to = '<s>'   -> $filter=assignedTo eq '<s>'
  hunting:    WHERE file_name = '<s>'     -> | where FileName == "<s>"

in one psql session.  Then it reads the emulator's request log and parses
each request with the emulator's own tokenizers (test/emulator/odata.py for the
$filter after the emulator's URL decoding, test/emulator/kql.py for the query
in the JSON body): the request must hold exactly one string literal and it
must equal the original string.  Strings that are not valid UTF-8 must fail
in PostgreSQL with SQLSTATE 22021 and send nothing.  One real assignee is
also looked up to check the rows, not just the request.
"""

import json
import os
import random
import subprocess
import sys
from emulator_control import emulator, finish, server_sql  # noqa: E402  (test/checks/)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
import kql      # noqa: E402  (the emulator's modules)
import odata    # noqa: E402

COUNT = int(os.environ.get("QUOTING_COUNT", "150"))
DB = "defender_quoting"

ALPHABET = (["'", "''", "\"", "\\", "\\\\", "\\'", "\\\"", "\\u0041", "\\n", "%", "%27", "%00", "&",
             "=", "#", "+", "$", "/", "?", " ", "  ", "|", "//", ";", "(", ")", ",", "eq", " or ",
             "\t", "\n", "\r", "\r\n", "\x01", "\x1b", "\x1f", "\x7f", "\u0085", "\u2028",
             "é", "ß", "ü", "日本", "Ж", "e\u0301", "\ufeff", "😀", "𝄞", "\U0010fffd",
             "a", "b", "Z", "0", "9", "x", "_", "-", ".", "~"])
INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"abc\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]

SETUP = """
DROP DATABASE IF EXISTS {db};
CREATE DATABASE {db};
\\c {db}
{server}CREATE FOREIGN TABLE incidents (id text, assigned_to text) SERVER defender OPTIONS (resource 'incidents');
CREATE FOREIGN TABLE processes (
  file_name text OPTIONS (property 'FileName')
) SERVER defender OPTIONS (resource 'hunting', table 'DeviceProcessEvents', timespan 'P30D');
SELECT count(*) FROM incidents WHERE id = 'warm-up';
"""


def sql_literal(s):
    return "'" + s.replace("'", "''") + "'"


def random_string(rng):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))


def main():
    url = sys.argv[1].rstrip("/")
    seed = int(os.environ.get("QUOTING_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    values = ["'", "''", "\\", "\"", "a'b''c\\'d\"e", "%27 or 1 eq 1", "x\" | take 1 //",
              "\t\r\n\x01\x7f", "😀"] + [random_string(rng) for _ in range(COUNT)]

    emulator(url, "POST", "/_emulator/reset", {"incidents": 130, "seed": 1})
    incidents = emulator(url, "GET", "/_emulator/incidents")["value"]
    real = next(i["assignedTo"] for i in incidents if i.get("assignedTo"))
    real_count = sum(1 for i in incidents if i.get("assignedTo") == real)

    script = [SETUP.format(db=DB, server=server_sql(url)).encode()]
    before = None
    for v in values:
        lit = sql_literal(v)
        script.append(("SELECT 'ROWS', count(*) FROM incidents WHERE assigned_to = %s;\n" % lit).encode())
        script.append(("SELECT 'ROWS', count(*) FROM processes WHERE file_name = %s;\n" % lit).encode())
    script.append(("SELECT 'REAL', count(*) FROM incidents WHERE assigned_to = %s;\n"
                   % sql_literal(real)).encode())
    for bad in INVALID_UTF8:
        script.append(b"SELECT 'BAD', count(*) FROM incidents WHERE assigned_to = '" + bad + b"';\n")
    script.append(("\\c postgres\nDROP DATABASE %s;\n" % DB).encode())

    before = max([e["seq"] for e in emulator(url, "GET", "/_emulator/requests")["requests"]] or [0])
    proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", "postgres", "-v", "VERBOSITY=verbose"],
                          input=b"".join(script), capture_output=True)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    log = emulator(url, "GET", "/_emulator/requests?since=%d" % before)["requests"]

    problems = []
    graph = [e for e in log if e["path"].endswith("/security/incidents") and e["method"] == "GET"
             and "warm-up" not in json.dumps(e.get("query"))]
    hunts = [e for e in log if e["path"].endswith("/security/runHuntingQuery")]
    rows = [line for line in out.splitlines() if line.startswith("ROWS|")]
    if len(rows) != 2 * len(values):
        problems.append("expected %d results, got %d" % (2 * len(values), len(rows)))
    # the real assignee's request comes last among the incidents requests
    if len(graph) != len(values) + 1 or len(hunts) != len(values):
        problems.append("expected %d incidents and %d hunting requests, got %d and %d"
                        % (len(values) + 1, len(values), len(graph), len(hunts)))
    else:
        for v, entry in zip(values, graph):
            flt = entry["query"].get("$filter", "")
            try:
                strings = [t.value for t in odata._tokenize(flt) if t.kind == "string"]
            except Exception as e:   # noqa: BLE001 -- any parse failure is the finding
                strings = ["<unparsable: %s>" % e]
            if strings != [v]:
                problems.append("OData: sent %r, emulator parsed %r from %r" % (v, strings, flt))
        for v, entry in zip(values, hunts):
            query = (entry.get("body") or {}).get("Query", "")
            try:
                strings = [t.value for t in kql.tokenize(query) if t.kind == "str"]
            except Exception as e:   # noqa: BLE001
                strings = ["<unparsable: %s>" % e]
            if strings != [v]:
                problems.append("KQL: sent %r, emulator parsed %r from %r" % (v, strings, query))
    real_rows = [line for line in out.splitlines() if line.startswith("REAL|")]
    if real_rows != ["REAL|%d" % real_count]:
        problems.append("assignee %r: expected %d rows, got %r" % (real, real_count, real_rows))
    bad_errors = err.count("ERROR:  22021")
    if bad_errors != len(INVALID_UTF8) or any(line.startswith("BAD|") for line in out.splitlines()):
        problems.append("invalid UTF-8: expected %d errors with SQLSTATE 22021, got %d"
                        % (len(INVALID_UTF8), bad_errors))
    other_errors = err.count("ERROR:") - bad_errors
    if other_errors:
        problems.append("%d unexpected errors:\n%s" % (other_errors, err[-3000:]))

    print("quoting check (seed %d): %d strings through incidents ($filter) and hunting (KQL), "
          "%d invalid UTF-8 strings refused" % (seed, len(values), bad_errors))
    finish(problems[:20], "quoting check passed: every value parsed back exactly")


if __name__ == "__main__":
    main()
