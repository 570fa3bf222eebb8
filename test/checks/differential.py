#!/usr/bin/env python3
"""test/checks/differential.py: random queries, each run with pushdown on and
off against the same emulator; any difference fails.

An FDW that pushes a clause down promises the answer PostgreSQL would give
on its own.  This check generates seeded random SELECTs over the Graph
tables (incidents, alerts) and several advanced-hunting tables (among them
the emulator-only DefenderFdwEdges with longs near 2^63, NaN and infinite
reals, boundary datetimes, negative timespans, Unicode and LIKE
metacharacters), runs each with `SET defender_fdw.enable_pushdown = on` and
`off` in one session, and compares the answers: as lists when the ORDER BY
orders the rows totally, as multisets otherwise (a LIMIT is generated only
under a total order, so every answer is determined).  A difference is:
other rows, an ERROR with pushdown on only (any SQLSTATE), or a crash.  An
ERROR with pushdown off only is not (a condition sent to Graph may spare
PostgreSQL a row whose expression fails); none is generated on purpose.

What is generated: AND/OR/NOT trees of comparisons on every mapped type
(text, the Graph enumerations, timestamptz with +-infinity and time zones,
text[], jsonb, integer, bigint, double precision, boolean, interval), NULLs,
IN/NOT IN/= ANY/<> ALL, LIKE/ILIKE with escapes and non-ASCII case folding,
IS [NOT] DISTINCT FROM, casts, COLLATE (including a nondeterministic ICU
collation), ORDER BY with NULLS FIRST/LAST, LIMIT/OFFSET, DISTINCT,
GROUP BY with count/sum/avg/min/max (also DISTINCT aggregates) and HAVING,
EXISTS (correlated and not), joins with local tables and between two
foreign tables, prepared statements run with generic plans, and a random
session TimeZone.

On a difference the query is shrunk (conditions dropped or replaced by a
part, clauses dropped) while the difference persists, then printed with
both answers, the remote request from EXPLAIN (VERBOSE) and the seed.

With --hunting-cap N the emulator answers advanced hunting past N rows as
Graph's service may (issue 17): --cap-mode refuse with its "result set too
large" 400, cut with the first N rows and nothing that says so; the server
gets the option hunting_max_rows N, as it knows the real service's cap.  Both ways
then have to split their hunting scans into time windows, or aggregate
locally what a pushed summarize cannot bring back whole; the answers must
still agree (and a hunting table without a time column, which cannot be
split, fails both ways alike).  The catalog of sample values is read before
the cap is set.

  differential.py EMULATOR_URL [--seed N] [--queries N] [--seconds S] [--verbose]
                  [--hunting-cap N [--cap-mode refuse|cut]]

PGHOST/PGPORT/PGUSER name the cluster (scripts/test.sh sets them).  The
seed is printed; --seed N replays a run exactly (same queries, same order).
--queries stops after N queries, --seconds after S seconds (the first
reached).  Every difference fails the run; one of a class seen before
(KNOWN_CLASSES) is named by its class.
"""

import argparse
import os
import random
import re
import sys
import time

from emulator_control import emulator, server_sql  # noqa: E402

import psycopg2  # noqa: E402  (Debian's python3-psycopg2)
import psycopg2.extensions  # noqa: E402

DB = "defender_differential"
RESET = {"incidents": 130, "seed": 1, "hunting_rows": 300, "hunting_seed": 5}
STATEMENT_TIMEOUT = "60s"
MAX_SHRINK_RUNS = 150
MAX_REPORTS = 6

# The classes of issue 14, found on 83d09f4 and fixed since; a recurrence
# is recognised on the shrunk query and named.
KNOWN_CLASSES = {
    "infinity-fold": "<> / NOT IN (+-infinity, or a time beyond year 9999) folded to no row (issue 14, item 1)",
    "bigint-sum": "sum()/avg() of bigint pushed to KQL, where sum(long) wraps (issue 14, item 2)",
    "aggref-xx000": "XX000 'Aggref found in non-Agg plan node' (issue 14, item 3)",
    "summarize-dup-key": "count(DISTINCT g) ... GROUP BY g: 'summarize by G, G', a 400 not retried (item 4)",
}

# Every value comes back as PostgreSQL's own text (psycopg2 cannot hold
# 'infinity' timestamps or NaN numerics faithfully), so that comparing two
# answers compares exactly what psql would show.
TEXT_OIDS = (16, 20, 21, 23, 25, 114, 700, 701, 1043, 1082, 1114, 1184, 1186, 1700, 2950, 3802,
             1000, 1005, 1007, 1009, 1015, 1016, 1021, 1022, 1115, 1182, 1185, 1187, 1231, 199,
             2951, 3807)
psycopg2.extensions.register_type(psycopg2.extensions.new_type(TEXT_OIDS, "AS_TEXT", lambda v, c: v))

# after emulator_control.server_sql()
SETUP = r"""
CREATE SCHEMA graph;
IMPORT FOREIGN SCHEMA graph FROM SERVER defender INTO graph;
CREATE SCHEMA hunting;
IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_process_events, email_events, device_network_events,
  device_logon_events, alert_evidence) FROM SERVER defender INTO hunting;
CREATE FOREIGN TABLE hunting.edges (
  id bigint OPTIONS (property 'Id'), name text OPTIONS (property 'Name'),
  category text OPTIONS (property 'Category'), big bigint OPTIONS (property 'Big'),
  small integer OPTIONS (property 'Small'), ratio double precision OPTIONS (property 'Ratio'),
  flag boolean OPTIONS (property 'Flag'), event_time timestamptz OPTIONS (property 'EventTime'),
  span interval OPTIONS (property 'Span'), extra jsonb OPTIONS (property 'Extra')
) SERVER defender OPTIONS (resource 'hunting', table 'DefenderFdwEdges');
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE watch (incident_id text, note text, prio integer);
CREATE TABLE hosts (device_name text, criticality integer);
CREATE TABLE tags (name text);
"""

# table -> (alias, unique key, the columns the generator uses; None: all)
TABLES = {
    "graph.incidents": ("i", "id", None),
    "graph.alerts": ("a", "id", ["id", "incident_id", "title", "status", "severity", "classification",
                                 "determination", "service_source", "detection_source", "assigned_to",
                                 "category", "created_date_time", "last_update_date_time",
                                 "first_activity_date_time", "resolved_date_time", "mitre_techniques",
                                 "system_tags", "evidence", "product_name"]),
    "hunting.device_process_events": ("p", "report_id", [
        "timestamp", "device_name", "action_type", "file_name", "folder_path", "file_size", "process_id",
        "process_command_line", "account_name", "account_upn", "logon_id", "report_id",
        "process_creation_time", "is_process_remote_session", "initiating_process_file_name"]),
    "hunting.email_events": ("e", "report_id", [
        "timestamp", "subject", "sender_from_address", "email_cluster_id", "email_direction",
        "delivery_action", "url_count", "attachment_count", "bulk_complaint_level", "report_id",
        "threat_types", "network_message_id", "email_language"]),
    "hunting.device_network_events": ("n", "report_id", [
        "timestamp", "device_name", "action_type", "remote_ip", "remote_port", "local_port", "protocol",
        "remote_url", "report_id", "initiating_process_id", "is_initiating_process_remote_session"]),
    "hunting.device_logon_events": ("l", "report_id", [
        "timestamp", "device_name", "account_name", "logon_type", "is_local_admin", "logon_id",
        "remote_port", "failure_reason", "report_id", "protocol"]),
    "hunting.edges": ("g", "id", None),
}
TABLE_WEIGHTS = {"graph.incidents": 5, "graph.alerts": 3, "hunting.device_process_events": 3,
                 "hunting.email_events": 3, "hunting.device_network_events": 2,
                 "hunting.device_logon_events": 2, "hunting.edges": 6}

ENUM_MEMBERS = {
    "status": ["active", "inProgress", "resolved", "redirected", "new", "unknownFutureValue"],
    "severity": ["unknown", "informational", "low", "medium", "high"],
    "classification": ["unknown", "falsePositive", "truePositive", "informationalExpectedActivity"],
    "determination": ["unknown", "apt", "malware", "securityPersonnel", "securityTesting",
                      "unwantedSoftware", "other", "multiStagedAttack", "compromisedAccount", "phishing",
                      "maliciousUserActivity", "notMalicious", "notEnoughDataToValidate",
                      "confirmedActivity", "lineOfBusinessApplication"],
    "service_source": ["microsoftDefenderForEndpoint", "microsoftDefenderForOffice365",
                       "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps"],
}
# the ends of timestamptz and of what Graph and KQL hold (years 1 to 9999)
TIME_EDGES = ["infinity", "-infinity", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
              "10000-01-01 00:00:00+00", "0001-01-01 00:00:00.000001+00", "4713-01-01 00:00:00+00 BC"]
TIME_ZONES = ["UTC", "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati", "America/Los_Angeles",
              "Europe/Berlin"]
ORDERABLE = ("text", "integer", "bigint", "timestamp with time zone", "boolean", "double precision",
             "interval")
GROUPABLE = ("text", "integer", "bigint", "timestamp with time zone", "boolean")
TYPE_CAST = {"text": "text", "integer": "integer", "bigint": "bigint", "boolean": "boolean",
             "timestamp with time zone": "timestamptz", "double precision": "double precision",
             "interval": "interval", "jsonb": "jsonb", "timestamp": "timestamp", "text[]": "text[]", "uuid": "uuid",
             "numeric": "numeric"}
PARAM = "\x01"          # a literal: PARAM type SEP text PARAM (a $n in a prepared statement)
SEP = "\x02"


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def lit(typ, text):
    """A literal of type typ whose text is text (None: NULL)."""
    if text is None:
        return "NULL"
    return PARAM + TYPE_CAST.get(typ, "text") + SEP + text + PARAM


LIT_RE = re.compile(PARAM + "([^" + SEP + "]*)" + SEP + "([^" + PARAM + "]*)" + PARAM)


# ---------------------------------------------------------------------------
# Queries: a small tree so that the shrinker can take them apart

class Query:
    """SELECT [DISTINCT] select FROM from_ WHERE where GROUP BY group HAVING
    having ORDER BY order LIMIT limit OFFSET offset; `where` is a tree of
    ("and"|"or", [nodes]), ("not", node) and ("leaf", sql)."""

    FIELDS = ("tz", "distinct", "select", "from_", "where", "group", "having", "order", "limit",
              "offset", "prepared", "total")

    def __init__(self, **kw):
        self.tz = "UTC"
        self.distinct = False
        self.select = []
        self.from_ = ""
        self.where = None
        self.group = []
        self.having = None
        self.order = []
        self.limit = None
        self.offset = None
        self.prepared = False
        self.total = False          # ORDER BY orders the rows totally
        for k, v in kw.items():
            setattr(self, k, v)

    def copy(self, **kw):
        q = Query(**{f: getattr(self, f) for f in self.FIELDS})
        q.select = list(q.select)
        q.group = list(q.group)
        q.order = list(q.order)
        for k, v in kw.items():
            setattr(q, k, v)
        return q

    def template(self):
        s = "SELECT " + ("DISTINCT " if self.distinct else "") + ", ".join(self.select)
        s += " FROM " + self.from_
        if self.where is not None:
            s += " WHERE " + render(self.where, top=True)
        if self.group:
            s += " GROUP BY " + ", ".join(self.group)
        if self.having:
            s += " HAVING " + self.having
        if self.order:
            s += " ORDER BY " + ", ".join(self.order)
        if self.limit is not None:
            s += " LIMIT %d" % self.limit
        if self.offset is not None:
            s += " OFFSET %d" % self.offset
        return s

    def statements(self):
        """(setup statements, the statement whose answer counts, cleanup)."""
        text = self.template()
        setup = ["SET TimeZone = %s" % quote(self.tz)]
        if not self.prepared:
            return setup, LIT_RE.sub(lambda m: "%s::%s" % (quote(m.group(2)), m.group(1)), text), []
        types, values = [], []

        def param(m):
            types.append(m.group(1))
            values.append(quote(m.group(2)))
            return "$%d" % len(types)
        body = LIT_RE.sub(param, text)
        setup.append("PREPARE q%s AS %s" % ("(" + ", ".join(types) + ")" if types else "", body))
        return setup, "EXECUTE q%s" % ("(" + ", ".join(values) + ")" if values else ""), ["DEALLOCATE q"]

    def shown(self):
        setup, main, _ = self.statements()
        return ";\n".join(setup[1:] + [main]) + ";" + ("" if self.tz == "UTC" else "  -- TimeZone %s" % self.tz)


def render(node, top=False):
    kind = node[0]
    if kind == "leaf":
        return node[1]
    if kind == "not":
        return "NOT (%s)" % render(node[1], top=True)
    joiner = " AND " if kind == "and" else " OR "
    s = joiner.join(render(c) for c in node[1])
    return s if top else "(" + s + ")"


def subtrees(node):
    """Every simpler tree: a node replaced by one of its parts, or an AND/OR
    without one of its parts."""
    kind = node[0]
    if kind == "leaf":
        return
    if kind == "not":
        yield node[1]
        for s in subtrees(node[1]):
            yield ("not", s)
        return
    children = node[1]
    for c in children:
        yield c
    if len(children) > 2:
        for i in range(len(children)):
            yield (kind, children[:i] + children[i + 1:])
    for i, c in enumerate(children):
        for s in subtrees(c):
            yield (kind, children[:i] + [s] + children[i + 1:])


# ---------------------------------------------------------------------------
# The generator

class Column:
    def __init__(self, table, name, typ, values):
        self.table = table
        self.name = name
        self.type = typ
        self.values = values            # text forms of the values present (no NULL)


class Generator:
    def __init__(self, rng, catalog):
        self.rng = rng
        self.catalog = catalog          # table -> [Column]

    # -- literals ------------------------------------------------------------
    def value_text(self, col):
        r = self.rng
        vals = col.values
        t = col.type
        if t == "text":
            if col.name in ENUM_MEMBERS and r.random() < 0.6:
                m = r.choice(ENUM_MEMBERS[col.name])
                return r.choice([m, m, m, m[:1].upper() + m[1:], m.upper(), "bogus"])
            v = r.choice(vals) if vals and r.random() < 0.8 else r.choice(
                ["", "alpha", "ALPHA", "\u00e9cole", "\u00c9COLE", "stra\u00dfe", "100%", "a_b", "x'y",
                 "\U0001F525 fire", "tier2@contoso.com", "cmd.exe", "\u0130stanbul"])
            k = r.random()
            if k < 0.1:
                return v.upper()
            if k < 0.2:
                return v.lower()
            return v
        if t in ("integer", "bigint"):
            bound = 2147483647 if t == "integer" else 9223372036854775807
            k = r.random()
            if vals and k < 0.6:
                v = int(r.choice(vals))
                v += r.choice([0, 0, 0, 1, -1])
                return str(max(-bound - 1, min(bound, v)))
            return str(r.choice([0, 1, -1, 42, bound, -bound - 1, bound - 1, 65535] +
                                ([9007199254740993] if t == "bigint" else [])))
        if t == "timestamp with time zone":
            k = r.random()
            if k < 0.25:
                return r.choice(["infinity", "-infinity"])
            if vals and k < 0.75:
                v = r.choice(vals)
                if r.random() < 0.2:
                    return v + r.choice([" + 1 microsecond", " - 1 microsecond"]) + "!"
                return v
            return r.choice(["2025-03-01 00:00:00+05:30", "1970-01-01 00:00:00+00", "0001-01-01 00:00:00+00",
                             "9999-12-31 23:59:59.999999+00", "2024-02-29 23:59:59.999999-08",
                             "2025-06-15 12:30:00 Europe/Berlin", "epoch", "2025-02-01", "now"])
        if t == "double precision":
            if vals and r.random() < 0.5:
                return r.choice(vals)
            return r.choice(["NaN", "Infinity", "-Infinity", "0", "-0", "1.5", "1e308", "0.1"])
        if t == "boolean":
            return r.choice(["true", "false"])
        if t == "interval":
            if vals and r.random() < 0.5:
                return r.choice(vals)
            return r.choice(["0", "1 day", "-3 days", "36:00:00", "00:00:00.000001", "-00:00:00.000001",
                             "1 mon", "24:00:00"])
        return r.choice(vals) if vals else ""

    def literal(self, col):
        text = self.value_text(col)
        t = col.type
        if t == "timestamp with time zone" and text.endswith("!"):
            base, _, delta = text[:-1].partition(" + ") if " + " in text else text[:-1].partition(" - ")
            op = "+" if " + " in text else "-"
            return "(%s %s interval '%s')" % (lit(t, base), op, delta)
        return lit(t, text)

    def like_pattern(self, col):
        r = self.rng
        v = r.choice(col.values) if col.values else "alpha"
        if not v:
            return r.choice(["%", "", "_%"])
        n = len(v)
        i = r.randrange(n)
        j = r.randrange(i, n) + 1
        esc = v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        k = r.random()
        if k < 0.2:
            p = esc[: max(1, len(esc) // 2)] + "%"
        elif k < 0.4:
            p = "%" + esc[len(esc) // 2:]
        elif k < 0.55:
            p = "%" + v[i:j].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        elif k < 0.65:
            p = esc
        elif k < 0.75:
            p = v[:i] + "_" + v[i + 1:]
        elif k < 0.85:
            p = v                   # metacharacters unescaped: they mean what they mean
        else:
            p = r.choice(["%", "%\\%%", "%\\_%", "a%", "%E", "\u00c9%", "%\u00dfe", "STRA%", "%\\\\%"])
        if r.random() < 0.2:
            p = p.swapcase()
        return p

    # -- predicates ----------------------------------------------------------
    def predicate(self, col, ref):
        r = self.rng
        t = col.type
        L = lambda: self.literal(col)  # noqa: E731
        if t == "text":
            choices = [
                lambda: "%s = %s" % (ref, L()), lambda: "%s <> %s" % (ref, L()),
                lambda: "%s IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 4)))),
                lambda: "%s NOT IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s IN (%s, NULL)" % (ref, L()), lambda: "%s NOT IN (%s, NULL)" % (ref, L()),
                lambda: "%s = ANY (ARRAY[%s]::text[])" % (ref, ", ".join(L() for _ in range(r.randint(0, 3)))),
                lambda: "%s <> ALL (ARRAY[%s])" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s LIKE %s" % (ref, lit("text", self.like_pattern(col))),
                lambda: "%s NOT LIKE %s" % (ref, lit("text", self.like_pattern(col))),
                lambda: "%s ILIKE %s" % (ref, lit("text", self.like_pattern(col))),
                lambda: "%s NOT ILIKE %s" % (ref, lit("text", self.like_pattern(col))),
                lambda: "%s LIKE %s ESCAPE '#'" % (ref, lit("text", self.like_pattern(col).replace("\\", "#"))),
                lambda: "%s IS NULL" % ref, lambda: "%s IS NOT NULL" % ref,
                lambda: "%s IS DISTINCT FROM %s" % (ref, L()),
                lambda: "%s IS NOT DISTINCT FROM %s" % (ref, L()),
                lambda: "%s %s %s" % (ref, r.choice(["<", "<=", ">", ">="]), L()),
                lambda: "%s COLLATE \"C\" = %s" % (ref, L()),
                lambda: "%s = %s COLLATE ci" % (ref, L()),
                lambda: "%s::varchar = %s" % (ref, L()),
                lambda: "lower(%s) = %s" % (ref, L()), lambda: "%s = NULL" % ref,
                lambda: "%s BETWEEN %s AND %s" % (ref, L(), L()),
            ]
            return r.choice(choices)()
        if t in ("integer", "bigint"):
            choices = [
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), L()),
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), L()),
                lambda: "%s BETWEEN %s AND %s" % (ref, L(), L()),
                lambda: "%s IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 4)))),
                lambda: "%s NOT IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s IS NULL" % ref, lambda: "%s IS NOT NULL" % ref,
                lambda: "%s IS DISTINCT FROM %s" % (ref, L()),
                lambda: "%s = ANY (ARRAY[%s]::%s[])" % (ref, ", ".join(L() for _ in range(r.randint(0, 3))), t),
                lambda: "%s::numeric > %s" % (ref, L()),
                lambda: "%s::text = %s" % (ref, lit("text", self.value_text(col))),
                lambda: "%s > %s::smallint" % (ref, r.choice(["0", "100", "-5"])),
                lambda: "%s %% 2 = 0" % ref,
            ]
            return r.choice(choices)()
        if t == "timestamp with time zone":
            edge = lambda: lit(t, r.choice(TIME_EDGES))  # noqa: E731
            choices = [
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), L()),
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), L()),
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), edge()),
                lambda: "%s NOT IN (%s, %s)" % (ref, edge(), L()),
                lambda: "%s BETWEEN %s AND %s" % (ref, L(), L()),
                lambda: "%s IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s NOT IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s IS NULL" % ref, lambda: "%s IS NOT NULL" % ref,
                lambda: "%s IS DISTINCT FROM %s" % (ref, L()),
                lambda: "%s > now() - interval '%d days'" % (ref, r.choice([1, 7, 20, 400, 4000])),
                lambda: "%s <= now() - interval '%d days'" % (ref, r.choice([1, 7, 20, 400])),
                lambda: "%s::date = %s::date" % (ref, L()),
                lambda: "%s AT TIME ZONE 'UTC' > %s" % (ref, lit("timestamp", "2025-02-15 00:00:00")),
                lambda: "%s <> ALL (ARRAY[%s]::timestamptz[])" % (ref, ", ".join(L() for _ in range(2))),
            ]
            return r.choice(choices)()
        if t == "double precision":
            choices = [
                lambda: "%s %s %s" % (ref, r.choice(["=", "<>", "<", "<=", ">", ">="]), L()),
                lambda: "%s IS NULL" % ref, lambda: "%s IS NOT NULL" % ref,
                lambda: "%s IN (%s)" % (ref, ", ".join(L() for _ in range(r.randint(1, 3)))),
                lambda: "%s IS DISTINCT FROM %s" % (ref, L()),
            ]
            return r.choice(choices)()
        if t == "boolean":
            return r.choice([ref, "NOT %s" % ref, "%s = %s" % (ref, L()), "%s <> %s" % (ref, L()),
                             "%s IS TRUE" % ref, "%s IS NOT FALSE" % ref, "%s IS UNKNOWN" % ref,
                             "%s IS NULL" % ref, "%s IS DISTINCT FROM %s" % (ref, L()),
                             "%s IN (%s)" % (ref, L())])
        if t == "interval":
            return r.choice(["%s %s %s" % (ref, r.choice(["=", "<>", "<", ">="]), L()),
                             "%s IS NULL" % ref, "%s IS NOT NULL" % ref])
        if t == "text[]":
            v = lit("text", r.choice(col.values).strip("{}").split(",")[0] if col.values else "VIP")
            return r.choice(["%s = ANY (%s)" % (v, ref), "%s @> ARRAY[%s]" % (ref, v),
                             "%s && ARRAY[%s, 'PCI']" % (ref, v), "cardinality(%s) = 0" % ref,
                             "%s IS NULL" % ref, "%s = '{}'" % ref, "NOT (%s = ANY (%s))" % (v, ref)])
        if t == "jsonb":
            return r.choice(["%s IS NULL" % ref, "%s IS NOT NULL" % ref, "jsonb_typeof(%s) = 'array'" % ref,
                             "%s @> '[{\"k\": 1}]'" % ref, "%s ? 'k'" % ref, "%s = '[]'" % ref,
                             "%s @> '{\"k\": 2}'" % ref])
        return "%s IS NOT NULL" % ref

    def tree(self, cols, alias, depth=0):
        r = self.rng
        k = r.random()
        if depth >= 3 or k < 0.45:
            c = r.choice(cols)
            return ("leaf", self.predicate(c, "%s.%s" % (alias, c.name)))
        if k < 0.75:
            return ("and", [self.tree(cols, alias, depth + 1) for _ in range(r.randint(2, 3))])
        if k < 0.93:
            return ("or", [self.tree(cols, alias, depth + 1) for _ in range(r.randint(2, 3))])
        return ("not", self.tree(cols, alias, depth + 1))

    # -- queries -------------------------------------------------------------
    def table(self, exclude=()):
        names = [t for t in TABLES if t not in exclude]
        return self.rng.choices(names, weights=[TABLE_WEIGHTS[t] for t in names])[0]

    def order_items(self, cols, alias, key):
        r = self.rng
        items = []
        for c in r.sample(cols, min(len(cols), r.randint(0, 2))):
            if c.type in ORDERABLE:
                items.append("%s.%s%s%s" % (alias, c.name, r.choice(["", " ASC", " DESC"]),
                                            r.choice(["", "", " NULLS FIRST", " NULLS LAST"])))
        items.append("%s.%s%s" % (alias, key, r.choice(["", " DESC"])))
        return items

    def query(self):
        r = self.rng
        q = Query(tz=r.choice(TIME_ZONES) if r.random() < 0.3 else "UTC", prepared=r.random() < 0.15)
        shape = r.choices(["rows", "aggregate", "group", "exists", "join_local", "join_foreign"],
                          weights=[34, 10, 26, 10, 10, 10])[0]
        getattr(self, "q_" + shape)(q)
        return q

    def where(self, cols, alias, simple=False):
        """A WHERE tree; `simple` (aggregates) makes it often absent or one
        condition, so that the aggregate itself can go to the service."""
        k = self.rng.random()
        if k < (0.35 if simple else 0.1):
            return None
        if simple and k < 0.65:
            c = self.rng.choice(cols)
            return ("leaf", self.predicate(c, "%s.%s" % (alias, c.name)))
        return self.tree(cols, alias)

    def q_rows(self, q):
        r = self.rng
        t = self.table()
        alias, key, _ = TABLES[t]
        cols = self.catalog[t]
        q.from_ = "%s %s" % (t, alias)
        q.where = self.where(cols, alias)
        picked = r.sample(cols, min(len(cols), r.randint(1, 4)))
        if r.random() < 0.2:
            plain = [c for c in picked if c.type in GROUPABLE]
            if plain:
                q.distinct = True
                q.select = ["%s.%s" % (alias, c.name) for c in plain]
                if r.random() < 0.5:
                    q.order = ["%s%s" % (s, r.choice(["", " DESC NULLS LAST", " NULLS FIRST"])) for s in q.select]
                    q.total = True
                    if r.random() < 0.5:
                        q.limit = r.randint(0, 8)
                return
        q.select = ["%s.%s" % (alias, key)] + ["%s.%s" % (alias, c.name) for c in picked]
        if r.random() < 0.6:
            q.order = self.order_items(cols, alias, key)
            q.total = True
            if r.random() < 0.6:
                q.limit = r.choice([0, 1, 3, 5, 20, 60, 120, 400])
                if r.random() < 0.4:
                    q.offset = r.choice([0, 1, 2, 49, 50, 51, 100])
        elif r.random() < 0.3:
            q.order = ["%s.%s" % (alias, c.name) for c in picked if c.type in ORDERABLE][:1]

    def aggregates(self, cols, alias):
        r = self.rng
        out = []
        numeric = [c for c in cols if c.type in ("integer", "bigint")]
        for _ in range(r.randint(1, 3)):
            c = r.choice(numeric if numeric and r.random() < 0.5 else cols)
            ref = "%s.%s" % (alias, c.name)
            d = "DISTINCT " if r.random() < 0.25 else ""
            if c.type in ("integer", "bigint"):
                out.append(r.choice(["sum(%s%s)", "avg(%s%s)", "min(%s%s)", "max(%s%s)", "count(%s%s)"])
                           % (d, ref))
            elif c.type == "timestamp with time zone":
                out.append(r.choice(["min(%s%s)", "max(%s%s)", "count(%s%s)"]) % (d, ref))
            elif c.type in ("text", "boolean"):
                out.append(r.choice(["count(%s%s)", "count(%s%s)", "min(%s%s)", "max(%s%s)"]) % (d, ref)
                           if c.type == "text" else "bool_or(%s)" % ref)
            elif c.type == "double precision":
                out.append(r.choice(["min(%s)", "max(%s)", "count(%s)"]) % ref)
            else:
                out.append("count(%s)" % ref)
            if r.random() < 0.3:
                out.append("count(*)")
        return out

    def q_aggregate(self, q):
        t = self.table()
        alias, _, _ = TABLES[t]
        cols = self.catalog[t]
        q.from_ = "%s %s" % (t, alias)
        q.where = self.where(cols, alias, simple=True)
        q.select = self.aggregates(cols, alias) if self.rng.random() < 0.7 else ["count(*)"]

    def q_group(self, q):
        r = self.rng
        t = self.table()
        alias, _, _ = TABLES[t]
        cols = self.catalog[t]
        groupable = [c for c in cols if c.type in GROUPABLE]
        q.from_ = "%s %s" % (t, alias)
        q.where = self.where(cols, alias, simple=True)
        keys = ["%s.%s" % (alias, c.name) for c in r.sample(groupable, min(len(groupable), r.randint(1, 2)))]
        aggs = self.aggregates(cols, alias)
        k = r.random()
        if k < 0.15:
            aggs = ["count(DISTINCT %s)" % keys[0]]
        elif k < 0.3:
            aggs.append("count(DISTINCT %s)" % keys[0])
        q.select = keys + aggs
        q.group = keys if r.random() < 0.7 else [str(i + 1) for i in range(len(keys))]
        if r.random() < 0.15:
            q.having = "count(*) > %d" % r.choice([1, 2, 5])
        if r.random() < 0.7:
            q.order = ["%s%s" % (k, r.choice(["", " DESC", " NULLS FIRST", " DESC NULLS LAST"])) for k in keys]
            q.total = True
            if r.random() < 0.5:
                q.limit = r.choice([1, 3, 10])
                if r.random() < 0.3:
                    q.offset = r.choice([1, 2])

    def q_exists(self, q):
        r = self.rng
        pairs = [("graph.incidents", "graph.alerts", "i.id = a.incident_id"),
                 ("graph.alerts", "graph.incidents", "i.id = a.incident_id"),
                 ("hunting.email_events", "hunting.alert_evidence", "x.network_message_id = e.network_message_id"),
                 ("hunting.device_logon_events", "hunting.device_process_events", "p.device_name = l.device_name"),
                 ("hunting.edges", "hunting.edges", None), ("graph.incidents", "hunting.edges", None),
                 ("hunting.device_network_events", "graph.incidents", None)]
        outer, inner, corr = r.choice(pairs)
        oalias, okey, _ = TABLES[outer]
        ialias = TABLES[inner][0] if inner in TABLES else "x"
        if inner == "hunting.alert_evidence":
            ialias = "x"
        if outer == inner:
            ialias = "g2"
        icols = self.catalog.get(inner, [])
        sub = "SELECT 1 FROM %s %s" % (inner, ialias)
        conds = [corr] if corr and r.random() < 0.8 else []
        if icols and r.random() < 0.8:
            conds.append(render(self.tree(icols, ialias), top=True))
        if conds:
            sub += " WHERE " + " AND ".join("(%s)" % c for c in conds)
        q.from_ = "%s %s" % (outer, oalias)
        ex = ("leaf", "%sEXISTS (%s)" % ("NOT " if r.random() < 0.3 else "", sub))
        ocols = self.catalog[outer]
        q.where = ("and", [ex, self.tree(ocols, oalias)]) if r.random() < 0.5 else ex
        if r.random() < 0.3:
            q.select = ["count(*)"]
        else:
            q.select = ["%s.%s" % (oalias, okey)]

    def q_join_local(self, q):
        r = self.rng
        t, local, on = r.choice([
            ("graph.incidents", "watch w", "i.id = w.incident_id"),
            ("graph.alerts", "watch w", "a.incident_id = w.incident_id"),
            ("hunting.device_process_events", "hosts h", "p.device_name = h.device_name"),
            ("hunting.device_network_events", "hosts h", "n.device_name = h.device_name"),
            ("hunting.edges", "tags w", "g.name = w.name"),
        ])
        alias, key, _ = TABLES[t]
        cols = self.catalog[t]
        join = r.choice(["JOIN", "LEFT JOIN", "RIGHT JOIN"])
        q.from_ = "%s %s %s %s ON %s" % (t, alias, join, local, on)
        q.where = self.where(cols, alias)
        lcol = local.split()[1] + "." + ("note" if local.startswith("watch") else
                                         "criticality" if local.startswith("hosts") else "name")
        if r.random() < 0.3:
            q.select = ["count(*)", "count(%s.%s)" % (alias, key)]
        else:
            q.select = ["%s.%s" % (alias, key), lcol] + ["%s.%s" % (alias, c.name)
                                                       for c in r.sample(cols, min(len(cols), 2))]

    def q_join_foreign(self, q):
        r = self.rng
        t1, t2, on = r.choice([
            ("graph.alerts", "graph.incidents", "a.incident_id = i.id"),
            ("hunting.alert_evidence", "hunting.email_events", "x.network_message_id = e.network_message_id"),
            ("hunting.device_logon_events", "hunting.device_network_events",
             "l.device_name = n.device_name AND l.report_id = n.report_id"),
            ("hunting.edges", "graph.incidents", "g.small = i.priority_score"),
            ("hunting.edges", "hunting.edges g2", "g.big = g2.big"),
        ])
        a1 = "x" if t1 == "hunting.alert_evidence" else TABLES[t1][0]
        t2name = t2.split()[0]
        a2 = t2.split()[1] if " " in t2 else TABLES[t2name][0]
        join = r.choice(["JOIN", "LEFT JOIN", "FULL JOIN"]) if "=" in on else "JOIN"
        q.from_ = "%s %s %s %s %s ON %s" % (t1, a1, join, t2name, a2, on)
        parts = []
        if t1 in self.catalog and r.random() < 0.8:
            parts.append(self.tree(self.catalog[t1], a1))
        if r.random() < 0.7:
            parts.append(self.tree(self.catalog[t2name], a2))
        if t1 == "graph.alerts":
            # a nested loop of lookups by id, one GET per alert: a few alerts
            ids = next(c for c in self.catalog[t1] if c.name == "id").values
            parts.insert(0, ("leaf", "a.id IN (%s)" % ", ".join(lit("text", v) for v in
                                                               r.sample(ids, r.randint(1, 6)))))
        q.where = None if not parts else parts[0] if len(parts) == 1 else ("and", parts)
        k2 = TABLES[t2name][1]
        if r.random() < 0.3:
            q.select = ["count(*)"]
        else:
            q.select = ["%s.%s" % (a2, k2)] + (["%s.%s" % (a1, TABLES[t1][1])] if t1 in TABLES else [])


# ---------------------------------------------------------------------------
# Running and comparing

class Outcome:
    def __init__(self, rows=None, error=None, crash=False):
        self.rows = rows
        self.error = error          # (sqlstate, message)
        self.crash = crash

    def show(self, limit=12):
        if self.crash:
            return "server connection lost (crash?)"
        if self.error:
            return "ERROR %s: %s" % self.error
        rows = self.rows
        lines = ["%d row(s)" % len(rows)] + ["  " + " | ".join("NULL" if v is None else v for v in row)
                                             for row in rows[:limit]]
        if len(rows) > limit:
            lines.append("  ...")
        return "\n".join(lines)


class Runner:
    def __init__(self, url):
        self.url = url
        self.conn = None
        self.connect()

    def connect(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        self.conn = psycopg2.connect(dbname=DB)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT,))
            cur.execute("SET client_min_messages = warning")
            cur.execute("SET extra_float_digits = 3")

    def run(self, query, pushdown):
        setup, main, cleanup = query.statements()
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET defender_fdw.enable_pushdown = %s" % ("on" if pushdown else "off"))
                cur.execute("SET plan_cache_mode = %s" % ("force_generic_plan" if query.prepared else "auto"))
                for s in setup:
                    cur.execute(s)
                try:
                    cur.execute(main)
                    return Outcome(rows=without_negative_zero(cur.fetchall(), cur.description))
                except psycopg2.Error as e:
                    if self.conn.closed or isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)) \
                            and e.pgcode is None:
                        raise
                    return Outcome(error=(e.pgcode, (e.pgerror or str(e)).strip().splitlines()[0]))
                finally:
                    if not self.conn.closed:
                        for s in cleanup:
                            try:
                                cur.execute(s)
                            except psycopg2.Error:
                                pass
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            if self.conn.closed:
                time.sleep(1)
                self.connect()
                return Outcome(crash=True)
            return Outcome(error=(getattr(e, "pgcode", None), str(e).strip().splitlines()[0]))
        except psycopg2.Error as e:
            return Outcome(error=(e.pgcode, (e.pgerror or str(e)).strip().splitlines()[0]))

    def explain(self, query):
        setup, main, cleanup = query.statements()
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET defender_fdw.enable_pushdown = on")
                cur.execute("SET plan_cache_mode = %s" % ("force_generic_plan" if query.prepared else "auto"))
                for s in setup:
                    cur.execute(s)
                try:
                    cur.execute("EXPLAIN (VERBOSE, COSTS OFF) " + main)
                    return [r[0] for r in cur.fetchall()]
                finally:
                    for s in cleanup:
                        cur.execute(s)
        except psycopg2.Error as e:
            if self.conn.closed:
                self.connect()
            return ["(EXPLAIN failed: %s)" % str(e).strip().splitlines()[0]]


def without_negative_zero(rows, description):
    """-0 and 0 are equal floats, so which of them min(), max() or DISTINCT
    keep depends on the order rows arrive in (PostgreSQL's own choice, not
    a difference): both read as 0."""
    floats = [i for i, d in enumerate(description) if d.type_code in (700, 701)]
    if not floats:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i in floats:
            if row[i] == "-0":
                row[i] = "0"
        out.append(tuple(row))
    return out


def normalized(rows, ordered):
    if ordered:
        return rows
    return sorted(rows, key=lambda row: tuple((v is None, v or "") for v in row))


def compare(query, on, off):
    """None when the two outcomes agree, else the kind of difference."""
    if on.crash or off.crash:
        return "crash"
    if on.error and off.error:
        return None
    if on.error:
        return "error with pushdown on: %s" % on.error[0]
    if off.error:
        return None             # see the module's comment
    if normalized(on.rows, query.total) != normalized(off.rows, query.total):
        return "different rows"
    return None


def classify(query, kind, on, remote):
    sql = query.template().lower()
    text = " ".join(remote)
    beyond = [t for _, t in LIT_RE.findall(query.template())
              if re.search(r"infinity|^\d{5,}-|\bBC\b", t, re.I)]
    if kind == "different rows" and beyond:
        return "infinity-fold"
    if kind == "different rows" and re.search(r"\b(sum|avg)\(", sql):
        return "bigint-sum"
    if on.error and on.error[0] == "XX000" and "Aggref" in on.error[1]:
        return "aggref-xx000"
    for keys in re.findall(r"summarize by ([\w, ]+)", text):
        names = [k.strip() for k in keys.split(",")]
        if on.error and len(set(names)) < len(names):
            return "summarize-dup-key"
    return "new"


def shrink_candidates(q):
    if q.where is not None:
        yield q.copy(where=None)
        for s in subtrees(q.where):
            yield q.copy(where=s)
    if q.prepared:
        yield q.copy(prepared=False)
    if q.tz != "UTC":
        yield q.copy(tz="UTC")
    if q.offset is not None:
        yield q.copy(offset=None)
    if q.limit is not None:
        yield q.copy(limit=None)
    if q.having:
        yield q.copy(having=None)
    if q.distinct and not q.limit:
        yield q.copy(distinct=False)
    if q.order and q.limit is None:
        yield q.copy(order=[], total=False)
    if len(q.order) > 1:
        for i in range(len(q.order) - (1 if q.total and not q.group and not q.distinct else 0)):
            if q.group or q.distinct:
                break
            yield q.copy(order=q.order[:i] + q.order[i + 1:])
    if len(q.select) > 1:
        for i in range(len(q.select)):
            sel = q.select[i]
            rest = q.select[:i] + q.select[i + 1:]
            if q.group and sel in q.group or q.distinct and sel in [o.split()[0] for o in q.order]:
                continue
            if q.group and not any("(" in s for s in rest):
                continue
            yield q.copy(select=rest)
    if len(q.group) > 1 and not any(g.isdigit() for g in q.group):
        for g in q.group:
            if g in q.select:
                sel = [s for s in q.select if s != g]
                order = [o for o in q.order if o.split()[0] != g]
                yield q.copy(group=[x for x in q.group if x != g], select=sel, order=order)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--hunting-cap", type=int, default=0,
                    help="the emulator's row cap for advanced hunting (0: its default, 100,000)")
    ap.add_argument("--cap-mode", choices=("refuse", "cut"), default="refuse")
    args = ap.parse_args()
    url = args.url.rstrip("/")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    capping = " --hunting-cap %d --cap-mode %s" % (args.hunting_cap, args.cap_mode) if args.hunting_cap else ""
    print("differential: seed %d (replay: test/checks/differential.py URL --seed %d --queries %d%s)"
          % (seed, seed, args.queries, capping), flush=True)

    emulator(url, "POST", "/_emulator/reset", RESET)
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS " + DB)
        cur.execute("CREATE DATABASE " + DB)
    admin.close()
    runner = Runner(url)
    with runner.conn.cursor() as cur:
        cur.execute(server_sql(url) + SETUP)
        cur.execute("SET defender_fdw.enable_pushdown = off")
        cur.execute("SET TimeZone = 'UTC'")
        catalog = {}
        for t, (alias, key, names) in TABLES.items():
            cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                        "ORDER BY a.attnum", (t,))
            cols = [(n, ty) for n, ty in cur.fetchall() if names is None or n in names]
            cur.execute("SELECT %s FROM %s" % (", ".join("%s::text" % n for n, _ in cols), t))
            data = cur.fetchall()
            catalog[t] = []
            for pos, (n, ty) in enumerate(cols):
                vals = sorted({row[pos] for row in data if row[pos] is not None})
                catalog[t].append(Column(t, n, ty, vals[:: max(1, len(vals) // 40)]))
        # local tables for the joins: some ids and names that exist, some not
        cur.execute("SELECT id FROM graph.incidents ORDER BY id")
        ids = [r[0] for r in cur.fetchall()]
        rng0 = random.Random(seed)
        for n, i in enumerate(rng0.sample(ids, 25) + ["no-such-id", "NO-SUCH", None]):
            cur.execute("INSERT INTO watch VALUES (%s, %s, %s)", (i, "note %d" % n, n % 5))
        cur.execute("INSERT INTO hosts SELECT DISTINCT device_name, length(device_name) % 5 "
                    "FROM hunting.device_process_events WHERE device_name IS NOT NULL")
        cur.execute("INSERT INTO hosts VALUES ('LAPTOP-BOB', 1), (NULL, 2)")
        cur.execute("INSERT INTO tags VALUES ('alpha'), ('ALPHA'), ('\u00e9cole'), (''), (NULL), ('100%')")
        cur.execute("ANALYZE watch; ANALYZE hosts; ANALYZE tags")

    if args.hunting_cap:
        # the server is told the cap, as it knows the real service's (an
        # answer of exactly that many rows may have been cut)
        emulator(url, "POST", "/_emulator/config",
                 {"hunting_max_rows": args.hunting_cap, "hunting_cap_mode": args.cap_mode})
        with runner.conn.cursor() as cur:
            cur.execute("ALTER SERVER defender OPTIONS (ADD hunting_max_rows '%d')" % args.hunting_cap)
    gen = Generator(random.Random(seed), catalog)
    start = time.monotonic()
    ran = differences = 0
    found = {}              # class -> [count, query number, seconds] of its first
    while ran < args.queries and (not args.seconds or time.monotonic() - start < args.seconds):
        q = gen.query()
        ran += 1
        t0 = time.monotonic()
        on = runner.run(q, True)
        off = runner.run(q, False)
        kind = compare(q, on, off)
        if args.verbose:
            print("[%d] %.3f s %s -> %s" % (ran, time.monotonic() - t0, q.shown(), kind or "same"), flush=True)
        if kind is None:
            continue
        differences += 1
        q, on, off, runs = shrink(runner, q, on, off, kind)
        remote = runner.explain(q)
        cls = classify(q, kind, on, remote)
        key = cls if cls != "new" else "new (%s)" % kind
        if key in found:
            found[key][0] += 1
            continue
        found[key] = [1, ran, time.monotonic() - start]
        if len(found) > MAX_REPORTS:
            continue
        print("\nDIFFERENCE (%s%s), query %d of seed %d, shrunk in %d runs:"
              % (kind, "" if cls == "new" else "; looks like %s" % cls, ran, seed, runs))
        print("  " + q.shown().replace("\n", "\n  "))
        print("pushdown on:\n  " + on.show().replace("\n", "\n  "))
        print("pushdown off:\n  " + off.show().replace("\n", "\n  "))
        print("EXPLAIN (VERBOSE), pushdown on:")
        for line in remote:
            if re.search(r"Remote|KQL|Timespan|Filter|Foreign|Scan|Agg|Join|Limit|Sort|EXPLAIN", line):
                print("  " + line)
        sys.stdout.flush()

    elapsed = time.monotonic() - start
    runner.conn.close()
    print("differential: %d queries in %.1f s (%.0f ms per query, both ways), seed %d%s: %d difference(s)"
          % (ran, elapsed, 1000 * elapsed / max(ran, 1), seed, capping, differences))
    for key, (count, first, seconds) in sorted(found.items()):
        print("  %-40s %4d, first at query %d (%.1f s)" % (key, count, first, seconds))
    if differences:
        print("FAIL: %d difference(s) between pushdown on and off (replay with --seed %d%s)"
              % (differences, seed, capping))
        sys.exit(1)
    print("differential: no difference")


def shrink(runner, q, on, off, kind):
    """The smallest query found that still shows a difference of this kind."""
    runs = 0
    improved = True
    while improved and runs < MAX_SHRINK_RUNS:
        improved = False
        for cand in shrink_candidates(q):
            runs += 1
            con, coff = runner.run(cand, True), runner.run(cand, False)
            if compare(cand, con, coff) == kind:
                q, on, off = cand, con, coff
                improved = True
                break
            if runs >= MAX_SHRINK_RUNS:
                break
    return q, on, off, runs


if __name__ == "__main__":
    main()
