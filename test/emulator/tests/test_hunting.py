"""Tests for advanced hunting: the KQL engine (kql.py), the fixtures
(hunting_fixtures.py) and POST /security/runHuntingQuery (hunting.py).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/emulator/tests -p 'test_*.py'
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

from test_emulator import EMULATOR_DIR, SCRIPT   # first: puts test/emulator/ on the path
import hunting_fixtures   # noqa: E402
import kql                # noqa: E402
TENANT = "00000000-0000-0000-0000-000000000001"
CLIENT = "11111111-1111-1111-1111-111111111111"
SECRET = "test-secret-value"
NOW = kql.parse_datetime("2025-06-01T00:00:00Z")
DAY = kql.TICKS_PER_DAY
HOSTILE = ['say "hi"', "it's", "back\\slash", "trailing\\", "a|b", "line1\nline2", "cr\rlf\r\n", "tab\there",
           "100%_x", "\u00e9\u65e5\u672c", "\U0001F525\U0001F600", "\\\"'|\n\t%\U0001F525", "", " ",
           "\\u0041 not an escape", "@\"verbatim\"", "x\u2028y", "nul\x01ctl"]

# A small table with nulls in every nullable column.
T_COLUMNS = [("x", "long"), ("s", "string"), ("d", "datetime"), ("r", "real"), ("b", "bool")]
T_ROWS = [
    (1, "a", NOW - 1 * DAY, 1.5, True),
    (None, "B", None, None, None),
    (5, "c d", NOW - 10 * DAY, -2.0, False),
    (3, "", NOW - 40 * DAY, 0.0, True),
    (5, "Foo.exe", NOW - 2 * DAY, None, False),
]


def run(query, tables=None, now=NOW):
    tables = dict(tables or {})
    tables.setdefault("T", kql.Table(T_COLUMNS, T_ROWS))
    return kql.run(query, tables.get, now)


def col(query, name=None, **kw):
    """One column of the result, as a list."""
    result = run(query, **kw)
    i = 0 if name is None else result.names().index(name)
    return [r[i] for r in result.rows]


# ==========================================================================
# Engine


# The repository's top folder and the schema file the extension installs
# (the Makefile's DATA), read here with the rules of
# src/catalog/hunting_catalog.c, independently of hunting_fixtures.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIPPED_SCHEMA = os.path.join(REPO, "defender_fdw_hunting_schema.txt")


def shipped_schema():
    """{table: [(column, normalized KQL type)]} of every table line of the
    shipped file: blanks trimmed, blank and '//' lines skipped, the name
    before the first '(', the columns up to the last ')'."""
    tables = {}
    with open(SHIPPED_SCHEMA, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith("//"):
                continue
            open_at, close_at = text.index("("), text.rindex(")")
            columns = []
            for item in text[open_at + 1:close_at].split(","):
                name, colon, typ = item.partition(":")
                if colon:
                    columns.append((name.strip(), kql.normalize_type(typ.strip())))
            tables[text[:open_at].strip()] = columns
    return tables


class LiteralTests(unittest.TestCase):
    def value(self, expr):
        return run("print v = " + expr).rows[0][0]

    def test_string_escapes(self):
        self.assertEqual(self.value(r'"a\\b\"c\'d\ne\rf\tg\u00e9"'), "a\\b\"c'd\ne\rf\tg\u00e9")
        self.assertEqual(self.value(r"'it\'s \"x\"'"), "it's \"x\"")
        self.assertEqual(self.value(r'"\ud83d\udd25"'), "\U0001F525")

    def test_verbatim_and_concatenation(self):
        self.assertEqual(self.value(r'@"C:\temp\new ""q"""'), 'C:\\temp\\new "q"')
        self.assertEqual(self.value(r"@'it''s \n'"), "it's \\n")
        self.assertEqual(self.value('"ab" \'cd\' @"e\\f"'), "abcde\\f")
        self.assertEqual(self.value('h"hidden"'), "hidden")

    def test_raw_newline_and_bad_escape_are_syntax_errors(self):
        with self.assertRaises(kql.KqlSyntaxError) as ctx:
            run('print v = "a\nb"')
        self.assertEqual(ctx.exception.message, "Query could not be parsed at '\"a' on line [1,10]")
        with self.assertRaises(kql.KqlSyntaxError):
            run('print v = "\\q"')
        with self.assertRaises(kql.KqlSyntaxError):
            run('print v = "unterminated')

    def test_hostile_values_round_trip_through_quote_string(self):
        for value in HOSTILE:
            lit = kql.quote_string(value)
            self.assertNotIn("\n", lit)
            self.assertEqual(self.value(lit), value, lit)
            table = kql.Table([("s", "string")], [(value,), ("other",)])
            self.assertEqual(col("S | where s == %s | count" % lit, tables={"S": table}), [1], lit)

    def test_numbers_and_timespans(self):
        self.assertEqual(self.value("42"), 42)
        self.assertEqual(self.value("1.5"), 1.5)
        self.assertEqual(self.value("1e3"), 1000.0)
        self.assertEqual(self.value("0x10"), 16)
        s = kql.TICKS_PER_SECOND
        for text, ticks in [("1d", DAY), ("2h", 7200 * s), ("30m", 1800 * s), ("10s", 10 * s),
                            ("100ms", s // 10), ("1.5h", 5400 * s), ("timespan(1.02:03:04.5)", 93784 * s + s // 2),
                            ("timespan(00:30:00)", 1800 * s), ("time(2d)", 2 * DAY), ("-1s", -s)]:
            self.assertEqual(self.value(text), ticks, text)

    def test_typed_literals(self):
        result = run('print a = long(5), b = int(5), c = real(1.5), d = bool(true), '
                     'e = guid(6F9619FF-8B86-D011-B42D-00C04FC964FF), f = dynamic(null), g = datetime(null), '
                     'h = long(null), i = dynamic({"k": [1, "two", 9007199254740993]}), '
                     'j = datetime(2024-01-31T12:34:56.1234567Z), k = datetime(2024-01-31 12:34), '
                     'l = decimal(1.10), m = real(null), n = bool(null)')
        self.assertEqual([t for _, t in result.columns],
                         ["long", "int", "real", "bool", "guid", "dynamic", "datetime", "long", "dynamic",
                          "datetime", "datetime", "decimal", "real", "bool"])
        row = result.rows[0]
        self.assertEqual(row[:8], (5, 5, 1.5, True, "6f9619ff-8b86-d011-b42d-00c04fc964ff", None, None, None))
        self.assertEqual(row[8], {"k": [1, "two", 9007199254740993]})
        self.assertEqual(kql.format_datetime(row[9]), "2024-01-31T12:34:56.1234567Z")
        self.assertEqual(kql.format_datetime(row[10]), "2024-01-31T12:34:00.0000000Z")
        self.assertEqual(str(row[11]), "1.10")
        self.assertEqual(row[12:], (None, None))


class PredicateTests(unittest.TestCase):
    def xs(self, pred):
        return col("T | where %s | project x" % pred)

    def ss(self, pred):
        return col("T | where %s | project s" % pred)

    def test_equality_and_null_semantics(self):
        self.assertEqual(self.xs("x == 5"), [5, 5])
        # Kusto: null != value is TRUE (null == value is false); see README
        self.assertEqual(self.xs("x != 5"), [1, None, 3])
        self.assertEqual(self.xs("x <> 5"), [1, None, 3])
        self.assertEqual(self.xs("x > 1"), [5, 3, 5])
        self.assertEqual(self.xs("x <= 3"), [1, 3])
        self.assertEqual(self.xs("not(x > 1)"), [1])
        self.assertEqual(self.xs("x > 1 or isnull(x)"), [None, 5, 3, 5])
        self.assertEqual(self.xs("x > 1 and isnull(x)"), [])
        self.assertEqual(self.xs("x == long(null)"), [])
        self.assertEqual(self.xs("x != long(null)"), [1, 5, 3, 5])
        self.assertEqual(self.xs("r >= 0.0"), [1, 3])
        self.assertEqual(self.xs("b == true"), [1, 3])
        self.assertEqual(self.xs("b != true"), [None, 5, 5])

    def test_string_comparisons(self):
        self.assertEqual(self.ss('s == "b"'), [])
        self.assertEqual(self.ss('s == "B"'), ["B"])
        self.assertEqual(self.ss('s =~ "b"'), ["B"])
        self.assertEqual(self.ss('s !~ "b"'), ["a", "c d", "", "Foo.exe"])
        self.assertEqual(self.ss('s != "B"'), ["a", "c d", "", "Foo.exe"])
        self.assertEqual(self.ss('s < "a"'), ["B", "", "Foo.exe"])      # ordinal: upper case first
        self.assertEqual(self.ss('s >= "c"'), ["c d"])

    def test_in_operators(self):
        self.assertEqual(self.xs("x in (1, 3)"), [1, 3])
        self.assertEqual(self.xs("x !in (1, 3)"), [None, 5, 5])
        self.assertEqual(self.xs("x in (dynamic([1, 5]))"), [1, 5, 5])
        self.assertEqual(self.ss('s in ("a", "b")'), ["a"])
        self.assertEqual(self.ss('s in~ ("A", "b")'), ["a", "B"])
        self.assertEqual(self.ss('s !in~ ("A", "b", "")'), ["c d", "Foo.exe"])
        self.assertEqual(self.ss('s !in ("a")'), ["B", "c d", "", "Foo.exe"])

    def test_string_operators(self):
        cases = {
            's contains "OO"': ["Foo.exe"], 's contains_cs "OO"': [], 's contains_cs "oo"': ["Foo.exe"],
            's !contains "o"': ["a", "B", "c d", ""], 's !contains_cs "F"': ["a", "B", "c d", ""],
            's startswith "f"': ["Foo.exe"], 's startswith_cs "f"': [], 's !startswith "f"': ["a", "B", "c d", ""],
            's !startswith_cs "F"': ["a", "B", "c d", ""],
            's endswith ".EXE"': ["Foo.exe"], 's endswith_cs ".EXE"': [], 's !endswith "E"': ["a", "B", "c d", ""],
            's !endswith_cs "E"': ["a", "B", "c d", "", "Foo.exe"],
            's has "foo"': ["Foo.exe"], 's has "fo"': [], 's has "exe"': ["Foo.exe"], 's has "d"': ["c d"],
            's has "foo.exe"': ["Foo.exe"], 's !has "foo"': ["a", "B", "c d", ""],
            's has_cs "foo"': [], 's hasprefix "fo"': ["Foo.exe"], 's hassuffix "xe"': ["Foo.exe"],
            's contains ""': ["a", "B", "c d", "", "Foo.exe"],
            's matches regex "^[a-c]"': ["a", "c d"],
        }
        for pred, expected in cases.items():
            self.assertEqual(self.ss(pred), expected, pred)

    def test_between(self):
        self.assertEqual(self.xs("x between (2 .. 5)"), [5, 3, 5])
        self.assertEqual(self.xs("x !between (2 .. 5)"), [1])
        self.assertEqual(self.xs("d between (ago(3d) .. now())"), [1, 5])
        self.assertEqual(self.xs("d between (datetime(2025-05-21) .. 9d)"), [5, 5])
        self.assertEqual(self.xs("d between (datetime(2025-05-21) .. 8d)"), [5])
        self.assertEqual(self.xs("r between (-2.0 .. 0.0)"), [5, 3])

    def test_emptiness_and_functions(self):
        self.assertEqual(self.xs("isempty(s)"), [3])
        self.assertEqual(self.xs("isnotempty(s)"), [1, None, 5, 5])
        self.assertEqual(self.xs("isnull(s)"), [])                     # strings are never null
        self.assertEqual(self.xs("isnull(d)"), [None])
        self.assertEqual(self.xs("isnotnull(r)"), [1, 5, 3])
        self.assertEqual(self.xs("isnull(x)"), [None])
        self.assertEqual(self.xs('tolower(s) == "foo.exe"'), [5])
        self.assertEqual(self.xs('toupper(s) == "FOO.EXE"'), [5])
        self.assertEqual(self.xs("strlen(s) == 3"), [5])
        self.assertEqual(self.xs("d > ago(5d)"), [1, 5])
        self.assertEqual(self.xs("d < datetime(2025-04-30)"), [3])
        self.assertEqual(self.xs("d >= now(-2d)"), [1, 5])
        self.assertEqual(run('print a = isempty(""), b = isnotempty(""), c = isnull(long(null)), '
                             'd = isempty(long(null)), e = strlen("\U0001F525a")').rows[0],
                         (True, False, True, True, 2))

    def test_nulls_are_sticky(self):
        self.assertEqual(col("T | extend y = x * 2 + 1 | project y"), [3, None, 11, 7, 11])
        self.assertEqual(run("print a = long(null) + 1, b = datetime(null) + 1d, c = 1 / 0").rows[0],
                         (None, None, None))

    def test_type_errors(self):
        with self.assertRaises(kql.KqlSemanticError) as ctx:
            run('T | where x > "a"')
        self.assertEqual(ctx.exception.message, "'where' operator: Cannot compare values of types long and "
                                                "string. Try adding explicit casts")
        with self.assertRaises(kql.KqlSemanticError):
            run('T | where d > "2024-01-01"')
        with self.assertRaises(kql.KqlSemanticError):
            run("T | where x")


class OperatorTests(unittest.TestCase):
    def test_project_and_quoting(self):
        result = run("T | project s, ['odd name'] = x, y = x + 1")
        self.assertEqual(result.columns, [("s", "string"), ("odd name", "long"), ("y", "long")])
        self.assertEqual(result.rows[0], ("a", 1, 2))
        result = run("T | project ['odd name'] = x | project ['odd name']")
        self.assertEqual(result.names(), ["odd name"])
        self.assertEqual(run("T | project-away d, r, b").names(), ["x", "s"])
        self.assertEqual(run("T | project-away *").names(), [])
        self.assertEqual(run("T | project-keep x, s").names(), ["x", "s"])
        self.assertEqual(run("T | project-rename n = x").names(), ["n", "s", "d", "r", "b"])
        self.assertEqual(run("T | extend x2 = x * 2, s = toupper(s) | project s, x2").rows[0], ("A", 2))

    def test_sort_defaults_and_nulls(self):
        self.assertEqual(col("T | sort by x | project x"), [5, 5, 3, 1, None])          # desc, nulls last
        self.assertEqual(col("T | order by x | project x"), [5, 5, 3, 1, None])
        self.assertEqual(col("T | sort by x asc | project x"), [None, 1, 3, 5, 5])      # asc, nulls first
        self.assertEqual(col("T | sort by x desc nulls first | project x"), [None, 5, 5, 3, 1])
        self.assertEqual(col("T | sort by x asc nulls last | project x"), [1, 3, 5, 5, None])
        self.assertEqual(col("T | sort by s asc | project s"), ["", "B", "Foo.exe", "a", "c d"])
        self.assertEqual(col("T | sort by x desc, s asc | project s"), ["Foo.exe", "c d", "", "a", "B"])
        self.assertEqual(col("T | sort by d asc | project x"), [None, 3, 5, 5, 1])

    def test_take_limit_top(self):
        self.assertEqual(col("T | take 2 | project x"), [1, None])
        self.assertEqual(col("T | limit 1 | project x"), [1])
        self.assertEqual(col("T | take 0 | project x"), [])
        self.assertEqual(col("T | top 2 by x | project x"), [5, 5])
        self.assertEqual(col("T | top 2 by x asc | project x"), [None, 1])
        self.assertEqual(col("T | top 2 by x asc nulls last | project x"), [1, 3])
        self.assertEqual(col("T | top 3 by r desc nulls first | project r"), [None, None, 1.5])

    def test_summarize_names_and_values(self):
        result = run("T | summarize count(), sum(x), min(x), max(x), avg(x), dcount(s), countif(x > 1), "
                     "min(d), max(s)")
        self.assertEqual(result.names(), ["count_", "sum_x", "min_x", "max_x", "avg_x", "dcount_s", "countif_",
                                          "min_d", "max_s"])
        self.assertEqual([t for _, t in result.columns],
                         ["long", "long", "long", "long", "real", "long", "long", "datetime", "string"])
        self.assertEqual(result.rows, [(5, 14, 1, 5, 3.5, 5, 3, NOW - 40 * DAY, "c d")])
        result = run("T | summarize n = count(), total = sum(x) by b | sort by n desc, total desc")
        self.assertEqual(result.names(), ["b", "n", "total"])
        self.assertEqual(result.rows, [(False, 2, 10), (True, 2, 4), (None, 1, 0)])
        result = run("T | summarize count() by bin(d, 30d), b")
        self.assertEqual(result.names(), ["d", "b", "count_"])
        self.assertEqual(run("T | summarize count(), count()").names(), ["count_", "count_1"])
        # empty input without grouping: one row of defaults
        self.assertEqual(run("T | where false | summarize count(), sum(x), max(x)").rows, [(0, 0, None)])
        self.assertEqual(run("T | where false | summarize count() by s").rows, [])
        self.assertEqual(col("T | summarize by b | count"), [3])

    def test_count_distinct_getschema(self):
        result = run("T | count")
        self.assertEqual((result.columns, result.rows), ([("Count", "long")], [(5,)]))
        self.assertEqual(col("T | distinct x | sort by x asc"), [None, 1, 3, 5])
        self.assertEqual(run("T | distinct x, b").rows, [(1, True), (None, None), (5, False), (3, True)])
        result = run("T | getschema")
        self.assertEqual(result.columns, [("ColumnName", "string"), ("ColumnOrdinal", "int"), ("DataType", "string"),
                                          ("ColumnType", "string")])
        self.assertEqual(result.rows[:3], [("x", 0, "System.Int64", "long"), ("s", 1, "System.String", "string"),
                                           ("d", 2, "System.DateTime", "datetime")])
        self.assertEqual(result.rows[4], ("b", 4, "System.SByte", "bool"))

    def test_let_and_parenthesised_sources(self):
        self.assertEqual(col("let lim = 2; let big = T | where x > lim; big | project x"), [5, 3, 5])
        self.assertEqual(col("(T | where x > 1) | where s != '' | project x"), [5, 5])
        self.assertEqual(col("let t = (T | project x);\nt | count;"), [5])
        self.assertEqual(col("datatable(a:long, b:string)[1, 'x', 2, 'y'] | where b == 'y' | project a"), [2])
        self.assertEqual(col("range n from 1 to 10 step 3"), [1, 4, 7, 10])
        self.assertEqual(col("T // comment | where false\n| count"), [5])

    def test_dynamic_access(self):
        table = kql.Table([("j", "dynamic")], [({"k": "v", "n": 9007199254740993},), ([1, 2],), (None,)])
        result = run('J | project j.k, n = j["n"], first = j[0]', tables={"J": table})
        self.assertEqual(result.names(), ["j_k", "n", "first"])
        self.assertEqual(result.rows, [("v", 9007199254740993, None), (None, None, 1), (None, None, None)])
        self.assertEqual(col('J | where j.k == "v" | count', tables={"J": table}), [1])


class ErrorTests(unittest.TestCase):
    def error(self, query):
        with self.assertRaises(kql.KqlError) as ctx:
            run(query)
        return ctx.exception

    def test_syntax_errors_say_where(self):
        self.assertEqual(self.error("My Not So Valid Query").message,
                         "Query could not be parsed at 'Not' on line [1,3]")
        self.assertEqual(self.error("T\n| where x > 1\n| wher y").message,
                         "Query could not be parsed at 'wher' on line [3,2]")
        self.assertEqual(self.error("T | where").message, "Query could not be parsed at '<EOF>' on line [1,9]")
        self.assertEqual(self.error("T | take 1 )").message, "Query could not be parsed at ')' on line [1,11]")
        self.assertIsInstance(self.error("T | where x == 1 ="), kql.KqlSyntaxError)
        self.assertIsInstance(self.error("T | project a = "), kql.KqlSyntaxError)
        self.assertIsInstance(self.error("T | sort x"), kql.KqlSyntaxError)
        self.assertIsInstance(self.error("5abc"), kql.KqlSyntaxError)

    def test_unknown_names(self):
        self.assertEqual(self.error("T | where Foo == 1").message,
                         "'where' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | project x, Foo").message,
                         "'project' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | summarize count() by Foo").message,
                         "'summarize' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | sort by Foo").message,
                         "'sort' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | order by Foo").message,
                         "'order' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | extend y = Foo").message,
                         "'extend' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error("T | where X == 1").message,        # names are case-sensitive
                         "'where' operator: Failed to resolve scalar expression named 'X'")
        self.assertEqual(self.error("Nope | take 1").message,
                         "Failed to resolve table or column expression named 'Nope'")
        self.assertEqual(self.error("T | where nofunc(x)").message, "'where' operator: Unknown function: 'nofunc'.")


class FixtureTests(unittest.TestCase):
    def test_every_table_has_its_schema_and_deterministic_rows(self):
        for name in ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceLogonEvents", "EmailEvents",
                     "AlertInfo", "AlertEvidence", "IdentityLogonEvents"):
            self.assertIn(name, hunting_fixtures.SCHEMAS)
        self.assertEqual(len(hunting_fixtures.SCHEMAS["DeviceProcessEvents"]), 66)
        self.assertEqual(dict(hunting_fixtures.SCHEMAS["IdentityLogonEvents"])["AdditionalFields"], "dynamic")
        self.assertEqual(dict(hunting_fixtures.SCHEMAS["DeviceNetworkEvents"])["RemotePort"], "int")
        for name in hunting_fixtures.table_names():
            a = hunting_fixtures.generate_table(name, 40, 7, NOW)
            b = hunting_fixtures.generate_table(name, 40, 7, NOW)
            self.assertEqual(a.rows, b.rows, name)
            self.assertTrue(all(len(r) == len(a.columns) for r in a.rows), name)
        self.assertNotEqual(hunting_fixtures.generate_table("AlertInfo", 40, 8, NOW).rows,
                            hunting_fixtures.generate_table("AlertInfo", 40, 7, NOW).rows)

    def test_schemas_are_the_shipped_file(self):
        with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
            makefile = f.read()
        data = re.search(r"^DATA = (.*?)\n(?!\t)", makefile, re.M | re.S).group(1)
        self.assertIn("defender_fdw_hunting_schema.txt", data.split())   # the file the extension installs
        self.assertEqual(hunting_fixtures.SCHEMA_FILE, SHIPPED_SCHEMA)
        shipped = shipped_schema()
        self.assertGreaterEqual(len(shipped), 30)
        own = {hunting_fixtures.TEST_TABLE, hunting_fixtures.EDGE_TABLE}
        self.assertEqual({name: cols for name, cols in hunting_fixtures.SCHEMAS.items() if name not in own},
                         shipped)
        self.assertFalse(own & set(shipped))

    def test_schemas_follow_the_file_not_a_copy(self):
        """A copy of the emulator next to an edited schema file serves the
        edit: a table dropped, a table added, a column retyped."""
        with tempfile.TemporaryDirectory() as top:
            shutil.copytree(EMULATOR_DIR, os.path.join(top, "test", "emulator"),
                            ignore=shutil.ignore_patterns("tests", "__pycache__"))
            with open(SHIPPED_SCHEMA, encoding="utf-8") as f:
                lines = [l for l in f.read().splitlines() if not l.startswith("AlertInfo(")]
            lines = [l.replace("RemotePort:int", "RemotePort:long") if l.startswith("DeviceNetworkEvents(") else l
                     for l in lines]
            lines.append("ZzEmulatorProbe(Timestamp:datetime, Probe:string)")
            with open(os.path.join(top, "defender_fdw_hunting_schema.txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            probe = ("import json, hunting_fixtures as h; print(json.dumps({n: c for n, c in h.SCHEMAS.items()}))")
            out = subprocess.run([sys.executable, "-c", probe], cwd=os.path.join(top, "test", "emulator"),
                                 capture_output=True, text=True, check=True).stdout
        schemas = json.loads(out)
        self.assertNotIn("AlertInfo", schemas)
        self.assertEqual(schemas["ZzEmulatorProbe"], [["Timestamp", "datetime"], ["Probe", "string"]])
        self.assertEqual(dict(map(tuple, schemas["DeviceNetworkEvents"]))["RemotePort"], "long")

    def test_awkward_values_nulls_big_ints(self):
        table = hunting_fixtures.generate_table("DeviceProcessEvents", 400, 1, NOW)
        strings = {v for r in table.rows for v, (_, t) in zip(r, table.columns) if t == "string"}
        for needle in ('"', "'", "\\", "|", "\n", "\t", "%", "\u65e5", "\U0001F525"):
            self.assertTrue(any(needle in s for s in strings), repr(needle))
        self.assertIn("", strings)
        i = table.names().index("Timestamp")
        self.assertTrue(all(NOW - 29 * DAY <= r[i] < NOW for r in table.rows))
        longs = [v for r in table.rows for v, (_, t) in zip(r, table.columns) if t == "long"]
        self.assertIn(None, longs)
        self.assertTrue(any(v is not None and v > 2 ** 53 for v in longs))
        dts = [v for r in table.rows for v, (_, t) in zip(r, table.columns) if t == "datetime"]
        self.assertIn(None, dts)
        ident = hunting_fixtures.generate_table("IdentityLogonEvents", 100, 1, NOW)
        j = ident.names().index("AdditionalFields")
        kinds = {type(r[j]) for r in ident.rows}
        self.assertTrue({dict, list, type(None)} <= kinds, kinds)

    def test_generation_is_fast(self):
        started = time.monotonic()
        table = hunting_fixtures.generate_table("DeviceProcessEvents", 20_000, 3, NOW)
        self.assertEqual(len(table.rows), 20_000)
        self.assertLess(time.monotonic() - started, 2.0)


# ==========================================================================
# HTTP

def start_emulator():
    fd, port_file = tempfile.mkstemp(prefix="hunt-emu-", suffix=".port")
    os.close(fd)
    os.unlink(port_file)
    proc = subprocess.Popen([sys.executable, SCRIPT, "--port", "0", "--port-file", port_file],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                text = f.read()
            if text.endswith("\n"):
                os.unlink(port_file)
                return proc, int(text)
        if proc.poll() is not None:
            raise RuntimeError("emulator died: %s" % proc.stderr.read().decode())
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("emulator did not start")


class HuntingHttpTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_emulator()
        status, _, body = cls._request("POST", "/%s/oauth2/v2.0/token" % TENANT, urllib.parse.urlencode({
            "client_id": CLIENT, "client_secret": SECRET, "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default"}),
            {"Content-Type": "application/x-www-form-urlencoded"})
        cls.token = json.loads(body)["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        out, err = cls.proc.communicate(timeout=10)
        assert cls.proc.returncode == 0, err
        assert b"Traceback" not in err, err

    @classmethod
    def _request(cls, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def setUp(self):
        self.control("POST", "reset")

    def control(self, method, path, body=None):
        status, _, data = self._request(method, "/_emulator/" + path,
                                        None if body is None else json.dumps(body))
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def hunt_raw(self, body, version="v1.0", token=None):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        if token is not False:
            headers["Authorization"] = "Bearer " + (token or self.token)
        return self._request("POST", "/%s/security/runHuntingQuery" % version, data, headers)

    def hunt(self, query, timespan=None, status=200):
        body = {"Query": query}
        if timespan is not None:
            body["Timespan"] = timespan
        code, headers, data = self.hunt_raw(body)
        self.assertEqual(code, status, data)
        return json.loads(data)

    def error_message(self, query, timespan=None, status=400):
        body = self.hunt(query, timespan, status=status)
        self.assertEqual(body["error"]["code"], "BadRequest" if status == 400 else body["error"]["code"])
        return body["error"]["message"]

    def fixture(self, table):
        return self.control("GET", "hunting/" + table)["results"]

    # ---- shape and types --------------------------------------------------------
    def test_response_shape_types_and_formats(self):
        code, headers, raw = self.hunt_raw({"Query": "DefenderFdwTypes | sort by Id asc"})
        self.assertEqual(code, 200, raw)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        body = json.loads(raw)
        self.assertEqual(body["@odata.context"], "http://127.0.0.1:%d/v1.0/$metadata#microsoft.graph.security."
                                                 "huntingQueryResults" % self.port)
        self.assertEqual([c["type"] for c in body["schema"]],
                         ["Int64", "String", "DateTime", "Boolean", "Int32", "Int64", "Double", "Decimal",
                          "TimeSpan", "Guid", "Object"])
        rows = body["results"]
        self.assertEqual(rows[0]["DateTimeValue"], "2024-01-02T03:04:05.1234567Z")
        self.assertEqual(rows[1]["DateTimeValue"], "0001-01-01T00:00:00.0000000Z")
        self.assertEqual(rows[2]["DateTimeValue"], "9999-12-31T23:59:59.9999999Z")
        self.assertEqual(rows[0]["TimeSpanValue"], "1.02:03:04.5000000")
        self.assertEqual(rows[1]["TimeSpanValue"], "-00:00:01")
        self.assertEqual(rows[0]["Int64Value"], 9007199254740993)
        self.assertIn(b'"Int64Value":9007199254740993,', raw)             # exact, not 9007199254740992
        self.assertIn(b'"Int64Value":-9223372036854775808,', raw)
        self.assertIn(b'"DoubleValue":0.1,', raw)
        self.assertIn(b'"DoubleValue":1e+300,', raw)
        self.assertIn(b'"DoubleValue":-0.0,', raw)
        self.assertIn(b'"DecimalValue":123456789012345678.123456789,', raw)
        self.assertEqual(rows[0]["DynamicValue"], {"a": 1, "b": [1, 2, {"c": None}], "big": 9007199254740993})
        self.assertEqual([r["DynamicValue"] for r in rows[1:5]], [[1, "two", None, 3.5, True], "a dynamic string",
                                                                 42, None])
        self.assertEqual(rows[4]["StringValue"], "null row")
        for key in ("DateTimeValue", "BooleanValue", "Int32Value", "Int64Value", "DoubleValue", "DecimalValue",
                    "TimeSpanValue", "GuidValue", "DynamicValue"):
            self.assertIsNone(rows[4][key], key)
        self.assertEqual(rows[2]["StringValue"], "")
        self.assertIn("\U0001F525".encode("utf-8"), raw)                   # UTF-8, not \\u escapes

    def test_schema_follows_projection_and_summarize(self):
        body = self.hunt("DeviceProcessEvents | project Timestamp, FileName, ReportId, IsProcessRemoteSession | take 1")
        self.assertEqual(body["schema"], [{"name": "Timestamp", "type": "DateTime"},
                                          {"name": "FileName", "type": "String"},
                                          {"name": "ReportId", "type": "Int64"},
                                          {"name": "IsProcessRemoteSession", "type": "Boolean"}])
        body = self.hunt("DeviceNetworkEvents | summarize n = count(), avg(RemotePort) by Protocol")
        self.assertEqual([(c["name"], c["type"]) for c in body["schema"]],
                         [("Protocol", "String"), ("n", "Int64"), ("avg_RemotePort", "Double")])
        body = self.hunt("IdentityLogonEvents | getschema | where ColumnName == 'AdditionalFields'")
        self.assertEqual(body["results"], [{"ColumnName": "AdditionalFields", "ColumnOrdinal": 25,
                                            "DataType": "System.Object", "ColumnType": "dynamic"}])

    def test_matches_local_filtering_of_fixture_rows(self):
        rows = self.fixture("DeviceProcessEvents")
        self.assertEqual(len(rows), 200)
        got = self.hunt('DeviceProcessEvents | where FileName =~ "powershell.exe" and ReportId > 50 '
                        '| project ReportId, FileName | sort by ReportId asc')["results"]
        want = sorted(r["ReportId"] for r in rows if r["FileName"].lower() == "powershell.exe" and r["ReportId"] > 50)
        self.assertEqual([r["ReportId"] for r in got], want)
        self.assertTrue(want)
        got = self.hunt("DeviceProcessEvents | where LogonId != 5 | count")["results"]
        self.assertEqual(got, [{"Count": 200}])                             # nulls included by !=
        got = self.hunt("DeviceProcessEvents | where isnull(LogonId) | count")["results"][0]["Count"]
        self.assertEqual(got, sum(1 for r in rows if r["LogonId"] is None))
        self.assertGreater(got, 0)
        big = [r["ReportId"] for r in rows if r["ReportId"] > 2 ** 53]
        got = self.hunt("DeviceProcessEvents | where ReportId > 9007199254740992 | project ReportId "
                        "| sort by ReportId asc")["results"]
        self.assertEqual([r["ReportId"] for r in got], sorted(big))
        self.assertTrue(big)

    def test_count_after_where_and_take(self):
        # what defender_fdw sends for a scan that reads no column: one row, one long named Count
        rows = self.fixture("DeviceProcessEvents")
        created = sum(1 for r in rows if r["ActionType"] == "ProcessCreated")
        self.assertGreater(created, 5)
        body = self.hunt('DeviceProcessEvents | where ActionType == "ProcessCreated" | count')
        self.assertEqual(body["schema"], [{"name": "Count", "type": "Int64"}])
        self.assertEqual(body["results"], [{"Count": created}])
        body = self.hunt('DeviceProcessEvents | where ActionType == "ProcessCreated" | take 5 | count')
        self.assertEqual(body["results"], [{"Count": 5}])
        body = self.hunt('DeviceProcessEvents | where ActionType == "ProcessCreated" | take 100000 | count')
        self.assertEqual(body["results"], [{"Count": created}])
        body = self.hunt('DeviceProcessEvents | where FileName == "no-such.exe" | take 1 | count')
        self.assertEqual(body["results"], [{"Count": 0}])
        body = self.hunt("DeviceProcessEvents | take 0 | count")
        self.assertEqual(body["results"], [{"Count": 0}])
        self.assertEqual(self.hunt("DeviceProcessEvents | count")["results"], [{"Count": len(rows)}])

    def test_hostile_strings_round_trip_over_http(self):
        rows = self.fixture("DeviceProcessEvents")
        values = sorted({r["ProcessCommandLine"] for r in rows} | {r["FileName"] for r in rows})
        hostile = [v for v in values if any(c in v for c in "\"'\\|\n\t%") or not v.isascii()]
        self.assertTrue(hostile)
        for value in hostile + [""]:
            got = self.hunt("DeviceProcessEvents | where ProcessCommandLine == %s | count"
                            % kql.quote_string(value))["results"][0]["Count"]
            self.assertEqual(got, sum(1 for r in rows if r["ProcessCommandLine"] == value), repr(value))
            got = self.hunt("print v = %s" % kql.quote_string(value))["results"]
            self.assertEqual(got, [{"v": value}])

    # ---- Timespan ------------------------------------------------------------------
    def test_timespan_forms(self):
        rows = self.fixture("DeviceLogonEvents")
        stamps = sorted(kql.parse_datetime(r["Timestamp"]) for r in rows)
        fmt = kql.format_datetime

        def count(timespan):
            return self.hunt("DeviceLogonEvents | count", timespan)["results"][0]["Count"]

        def between(lo, hi):
            return sum(1 for t in stamps if lo <= t <= hi)
        self.assertEqual(count(None), 200)
        self.assertEqual(count("P30D"), 200)
        lo, hi = stamps[20], stamps[150]
        self.assertEqual(count("%s/%s" % (fmt(lo), fmt(hi))), 131)         # inclusive both ends
        self.assertEqual(count("P7D/%s" % fmt(hi)), between(hi - 7 * DAY, hi))
        self.assertEqual(count("%s/P7D" % fmt(lo)), between(lo, lo + 7 * DAY))
        self.assertEqual(count("%s/PT12H" % fmt(lo)), between(lo, lo + DAY // 2))
        self.assertEqual(count(fmt(lo)), 180)                               # start alone: up to now
        before = time.time_ns() // 100
        got = count("PT36H")
        after = time.time_ns() // 100
        self.assertIn(got, range(between(after - DAY * 3 // 2, before), between(before - DAY * 3 // 2, after) + 1))
        self.assertEqual(count("P1DT0H"), count("P1D"))
        # tables without Timestamp ignore the window
        self.assertEqual(self.hunt("DeviceTvmSoftwareInventory | count", "PT1S")["results"], [{"Count": 200}])
        # the shorter of Timespan and the query's own filter wins
        self.assertEqual(self.hunt("DeviceLogonEvents | where Timestamp > ago(1d) | count", "P7D")["results"][0]["Count"],
                         self.hunt("DeviceLogonEvents | where Timestamp > ago(1d) | count")["results"][0]["Count"])
        for bad in ("30 days", "P", "PT", "2024-13-01T00:00:00Z", "2024-02-02T00:00:00Z/2024-02-01T00:00:00Z",
                    "P1D/P2D", ""):
            message = self.error_message("DeviceLogonEvents | count", bad)
            self.assertIn("Timespan", message, bad)

    # ---- errors ----------------------------------------------------------------------
    def test_query_errors(self):
        self.assertEqual(self.error_message("DeviceProcessEvents | where FileName = 'x'"),
                         "Query could not be parsed at '=' on line [1,37]")
        self.assertEqual(self.error_message("DeviceProcessEvents\n| project Foo"),
                         "'project' operator: Failed to resolve scalar expression named 'Foo'")
        self.assertEqual(self.error_message("DeviceProcessEvent | take 1"),
                         "Failed to resolve table or column expression named 'DeviceProcessEvent'")
        self.assertEqual(self.error_message("range x from 1 to 100001 step 1"),
                         "Query result set has exceeded the internal record count limit 100000 "
                         "(E_QUERY_RESULT_SET_TOO_LARGE).")
        self.assertEqual(self.hunt("range x from 1 to 100000 step 1 | count")["results"], [{"Count": 100000}])
        self.control("POST", "config", {"hunting_max_result_bytes": 2000})
        self.assertEqual(self.error_message("DeviceProcessEvents"),
                         'Result size limit exceeded. Use "summarize" to aggregate results, "project" to drop '
                         'uninteresting columns, or "take" to truncate results.')
        self.assertEqual(len(self.hunt("DeviceProcessEvents | take 1 | project FileName")["results"]), 1)

    def test_body_errors(self):
        cases = [("", "Empty Payload. JSON content expected."),
                 ("{not json", "Unable to read JSON request payload"),
                 ("[]", "Unable to read JSON request payload"),
                 ({"query": "AlertInfo"}, "The parameter 'query' in the request payload is not a valid parameter"),
                 ({"Timespan": "P1D"}, "The 'Query' parameter is required."),
                 ({"Query": 5}, "Cannot convert the literal '5'"),
                 ({"Query": "AlertInfo", "Timespan": 3}, "Cannot convert the literal '3'")]
        for body, message in cases:
            code, _, data = self.hunt_raw(body)
            self.assertEqual(code, 400, body)
            error = json.loads(data)["error"]
            self.assertEqual(error["code"], "BadRequest")
            self.assertTrue(error["message"].startswith(message), (body, error))
            self.assertIn("request-id", error["innerError"])

    def test_auth_method_and_beta(self):
        code, headers, _ = self.hunt_raw({"Query": "AlertInfo | take 1"}, token=False)
        self.assertEqual(code, 401)
        code, headers, _ = self._request("GET", "/v1.0/security/runHuntingQuery",
                                         headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(code, 405)
        self.assertEqual(headers["allow"], "POST")
        code, _, data = self.hunt_raw({"Query": "AlertInfo | take 1"}, version="beta")
        self.assertEqual(code, 200)
        self.assertIn("/beta/$metadata#microsoft.graph.security.huntingQueryResults", json.loads(data)["@odata.context"])

    def test_quota(self):
        self.control("POST", "config", {"hunting_quota_per_minute": 2})
        for _ in range(2):
            self.hunt("AlertInfo | take 1")
        code, headers, data = self.hunt_raw({"Query": "AlertInfo | take 1"})
        self.assertEqual(code, 429)
        error = json.loads(data)["error"]
        self.assertEqual(error["code"], "TooManyRequests")
        self.assertEqual(error["message"], "API calls quota exceeded! maximum allowed 2 per 00:01:00")
        self.assertIn(int(headers["retry-after"]), range(1, 61))
        self.control("POST", "reset")                                        # reset clears the window
        self.hunt("AlertInfo | take 1")

    # ---- cache, log, control API --------------------------------------------------------
    def test_cache_hit_on_repeated_query(self):
        query = {"Query": "DeviceProcessEvents | project ReportId, FileName | take 50", "Timespan": "P30D"}
        first = self.hunt_raw(query)
        second = self.hunt_raw(query)
        self.assertEqual(first[1]["x-emulator-hunting-cache"], "miss")
        self.assertEqual(second[1]["x-emulator-hunting-cache"], "hit")
        self.assertEqual(first[2], second[2])
        other = self.hunt_raw(dict(query, Timespan="P29D"))
        self.assertEqual(other[1]["x-emulator-hunting-cache"], "miss")
        stats = self.control("GET", "hunting/cache")
        self.assertEqual((stats["entries"], stats["hits"]), (2, 1))
        self.control("POST", "config", {"hunting_seed": 5})                 # new data: cache dropped
        third = self.hunt_raw(query)
        self.assertEqual(third[1]["x-emulator-hunting-cache"], "miss")
        self.assertNotEqual(third[2], first[2])

    def test_request_log_keeps_the_exact_query(self):
        query = 'DeviceProcessEvents | where ProcessCommandLine has "whoami" | project Timestamp | take 3'
        self.hunt(query, "P7D")
        entries = self.control("GET", "requests")["requests"]
        hunts = [e for e in entries if e["path"].endswith("runHuntingQuery")]
        self.assertEqual(hunts[-1]["body"], {"Query": query, "Timespan": "P7D"})
        self.assertEqual(hunts[-1]["status"], 200)

    def test_control_tables_are_the_shipped_schema(self):
        served = {t["name"]: [(c["name"], c["kqlType"]) for c in t["schema"]]
                  for t in self.control("GET", "hunting/tables")["tables"] if not t["testOnly"]}
        self.assertEqual(served, shipped_schema())

    def test_control_tables_and_rows(self):
        tables = self.control("GET", "hunting/tables")
        names = [t["name"] for t in tables["tables"]]
        for name in ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceLogonEvents", "EmailEvents", "AlertInfo",
                     "AlertEvidence", "IdentityLogonEvents", "DefenderFdwTypes"):
            self.assertIn(name, names)
        dpe = tables["tables"][names.index("DeviceProcessEvents")]
        self.assertEqual(dpe["rows"], 200)
        self.assertEqual(dpe["schema"][0], {"name": "Timestamp", "type": "DateTime", "kqlType": "datetime"})
        self.assertEqual(len(dpe["schema"]), 66)
        self.control("POST", "reset", {"hunting_rows": 25, "hunting_seed": 9})
        rows = self.fixture("AlertInfo")
        self.assertEqual(len(rows), 25)
        self.assertEqual(self.hunt("AlertInfo | count")["results"], [{"Count": 25}])
        body = self.hunt("AlertInfo | sort by AlertId asc")
        self.assertEqual(body["results"], sorted(rows, key=lambda r: r["AlertId"].encode("utf-16-be")))
        status, _, _ = self._request("GET", "/_emulator/hunting/NoSuchTable")
        self.assertEqual(status, 404)
        status, _, data = self._request("POST", "/_emulator/config", json.dumps({"hunting_rows": -1}))
        self.assertEqual(status, 400, data)


if __name__ == "__main__":
    unittest.main()
