"""Large advanced-hunting tables generated lazily: every row is computed from
its index, nothing is held in memory, and a query over a time range walks only
that range's indexes.

Config key `hunting_generated` (CLI --generated-table): a list of
{"table": <a timestamped table of hunting_fixtures.SCHEMAS>, "rows": N,
 "days": D (default 30), "seed"?: S (default: the tenant's hunting_seed)}.
Each named table replaces its fixture table for runHuntingQuery.

Layout (deterministic, so tests can predict it):
  * end = the hunting anchor (the first hunting request after a reset)
    rounded down to the hour; start = end - D days.  The data covers
    [start, end): with the 30-day horizon, rows in the first minutes of a
    30-day table are already too old to be seen;
  * the D*24 hours hold rows // hours rows each, the first rows % hours
    hours one more;
  * in each hour with n rows, row j sits at hour_start + j*(H-1)//(n-1)
    (H = one hour in 100 ns ticks): the first row of every hour is exactly on
    the hour (so on every day and hour boundary), the last one 100 ns before
    the next hour; rows are in time order;
  * ReportId (long) = index + 1, unique; other columns come from the same
    per-table value profiles as the fixture tables, picked by a hash of the
    index (hunting_fixtures).
Ground truth for any [from, to): GET /_emulator/hunting/generated/<Table>
(count, first/last index and timestamp, sums of ReportId, ReportId^2 and
Timestamp ticks), all computed in closed form.

Streaming (run_streaming): a query `<table> | <row-wise operators> [| rest]`
(row-wise: where, project, project-away/keep/rename, extend, serialize) runs
over the table in chunks of CHUNK rows.  The Timestamp bounds of the leading
`where` operators (>=, >, <, <=, ==, between on Timestamp against constants,
joined by `and`) and the Timespan window choose the index range; the whole
predicate is still evaluated on every row.  Then `take N` stops after N rows,
`count` counts, `summarize count() by ...` merges per-chunk counts, and no
rest returns the rows (stopping one past the row cap); any other rest runs on
the collected rows (at most MATERIALIZE_MAX).  Other query shapes (let, join,
a generated table in a subquery) see the table materialized for the window,
refused with a 400 when that is more than MATERIALIZE_MAX rows.
"""

import random
import threading
import zlib

import hunting_fixtures
import kql
import state as state_module
from common import PLAIN_JSON, PerState, Response

HOUR = 3600 * kql.TICKS_PER_SECOND
CHUNK = 8192
MATERIALIZE_MAX = 250_000
MAX_ROWS = 100_000_000
ROW_WISE = frozenset(("where", "project", "project-away", "project-keep", "project-rename", "extend",
                      "serialize"))
_MASK = (1 << 64) - 1


def _validate(value):
    if not isinstance(value, list):
        raise ValueError("'hunting_generated' must be a list of {table, rows, days?, seed?}")
    out, seen = [], set()
    for spec in value:
        if not isinstance(spec, dict) or set(spec) - {"table", "rows", "days", "seed"}:
            raise ValueError("a generated table is {\"table\", \"rows\", \"days\"?, \"seed\"?}")
        name = spec.get("table")
        if name not in hunting_fixtures.SCHEMAS or not hunting_fixtures.has_timestamp(name):
            raise ValueError("%r is not a hunting table with a Timestamp column" % (name,))
        if name in seen:
            raise ValueError("%r is listed twice" % name)
        seen.add(name)
        rows, days, seed = spec.get("rows"), spec.get("days", 30), spec.get("seed")
        if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= MAX_ROWS:
            raise ValueError("'rows' must be an integer from 0 to %d" % MAX_ROWS)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise ValueError("'days' must be a whole number of days from 1 to 3650")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("'seed' must be an integer")
        out.append({"table": name, "rows": rows, "days": days, "seed": seed})
    return out


state_module.register_config("hunting_generated", _validate)


def _mix(x):
    """splitmix64 finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def floor_sum(n, m, a, b):
    """sum(floor((a*i + b) / m) for i in range(n)), a, b >= 0, in O(log)."""
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


class GeneratedTable:
    """One lazily generated table."""

    def __init__(self, name, rows, days, seed, end_ticks):
        self.name = name
        self.rows = rows
        self.days = days
        self.seed = seed
        self.end = end_ticks - end_ticks % HOUR
        self.start = self.end - days * 24 * HOUR
        self.hours = days * 24
        self.base, self.extra = divmod(rows, self.hours)
        self.columns = hunting_fixtures.SCHEMAS[name]
        self._build_pools()

    def spec_key(self):
        return (self.name, self.rows, self.days, self.seed, self.end)

    # ---- layout --------------------------------------------------------------
    def hour_first(self, h):
        return h * self.base + min(h, self.extra)

    def hour_rows(self, h):
        return self.base + (1 if h < self.extra else 0)

    def hour_of(self, i):
        big = self.extra * (self.base + 1)
        if i < big:
            return i // (self.base + 1)
        return self.extra + (i - big) // self.base

    def _offset(self, j, n):
        return 0 if n <= 1 else j * (HOUR - 1) // (n - 1)

    def timestamp(self, i):
        h = self.hour_of(i)
        return self.start + h * HOUR + self._offset(i - self.hour_first(h), self.hour_rows(h))

    def first_at_or_after(self, t):
        """The index of the first row with Timestamp >= t (rows when none)."""
        if t <= self.start or self.rows == 0:
            return 0
        if t >= self.end:
            return self.rows
        h = (t - self.start) // HOUR
        n = self.hour_rows(h)
        first = self.hour_first(h)
        off = t - (self.start + h * HOUR)
        if n == 0:
            return first
        if n == 1:
            return first + (1 if off > 0 else 0)
        # smallest j with j*(HOUR-1)//(n-1) >= off  <=>  j*(HOUR-1) >= off*(n-1)
        j = -(-off * (n - 1) // (HOUR - 1))
        return first + min(j, n)

    def index_range(self, lo, hi):
        """[i0, i1) of the rows with lo <= Timestamp <= hi (inclusive ticks)."""
        i0 = self.first_at_or_after(lo)
        i1 = self.first_at_or_after(hi + 1)
        return i0, max(i0, i1)

    # ---- values ----------------------------------------------------------------
    def _build_pools(self):
        self.ts_pos = None
        self.report_pos = None
        groups = {}
        for pos, (col, typ) in enumerate(self.columns):
            if col == "Timestamp" and typ == "datetime":
                self.ts_pos = pos
            elif col == "ReportId":
                self.report_pos = (pos, typ)
            else:
                groups.setdefault(hunting_fixtures.group_of(col), []).append((pos, col, typ))
        self.pools = []
        order = [self.ts_pos] + ([self.report_pos[0]] if self.report_pos else [])
        for g, (group, members) in enumerate(sorted(groups.items())):
            rng = random.Random("%s|%s|%s|generated" % (self.seed, self.name, group))
            size = hunting_fixtures.GROUP_SIZES.get(group, 20)
            profiles = []
            for k in range(size):
                p = rng.randrange(1_000_000)
                profiles.append(tuple(hunting_fixtures.profile_value(self.name, col, typ, rng, k, p, self.end)
                                      for _, col, typ in members))
            self.pools.append((profiles, size, (g + 1) * 0x632BE59BD9B4E019))
            order.extend(pos for pos, _, _ in members)
        where = {pos: i for i, pos in enumerate(order)}
        self.perm = [where[pos] for pos in range(len(self.columns))]
        self.salt = _mix(zlib.crc32(("%s|%s|generated" % (self.seed, self.name)).encode("utf-8")))

    def row_values(self, i0, i1):
        """The rows [i0, i1) as tuples in column order."""
        out = []
        perm = self.perm
        report = self.report_pos
        report_str = report is not None and report[1] == "string"
        h = self.hour_of(i0) if i0 < self.rows else 0
        first, n = self.hour_first(h), self.hour_rows(h)
        hour_start = self.start + h * HOUR
        salt = self.salt
        for i in range(i0, i1):
            while i >= first + n:
                h += 1
                first, n = self.hour_first(h), self.hour_rows(h)
                hour_start = self.start + h * HOUR
            j = i - first
            vals = [hour_start + (0 if n <= 1 else j * (HOUR - 1) // (n - 1))]
            if report is not None:
                vals.append(str(i + 1) if report_str else i + 1)
            x = _mix(i ^ salt)
            t = tuple(vals)
            for profiles, size, mult in self.pools:
                t += profiles[(((x * mult) & _MASK) >> 33) % size]
            out.append(tuple(t[p] for p in perm))
        return out

    def materialize(self, lo, hi):
        """The rows of the window [lo, hi] as a kql.Table, for query shapes that
        cannot stream; refused past MATERIALIZE_MAX rows."""
        i0, i1 = self.index_range(lo, hi)
        if i1 - i0 > MATERIALIZE_MAX:
            raise kql.KqlSemanticError(
                "The emulator can evaluate this query over the generated table '%s' only for up to %d rows "
                "(%d rows in the window): use '%s | where Timestamp ...' followed by project, extend, "
                "where, take, count or summarize count()." % (self.name, MATERIALIZE_MAX, i1 - i0, self.name))
        return kql.Table(self.columns, self.row_values(i0, i1))

    # ---- ground truth -----------------------------------------------------------
    def ground_truth(self, lo, hi):
        """Facts about the rows with lo <= Timestamp < hi (half-open)."""
        i0 = self.first_at_or_after(lo)
        i1 = max(i0, self.first_at_or_after(hi))
        count = i1 - i0
        # ReportId = index + 1 over [i0, i1)
        a, b = i0 + 1, i1
        sum_id = (a + b) * count // 2 if count else 0
        sum_sq = (b * (b + 1) * (2 * b + 1) - (a - 1) * a * (2 * a - 1)) // 6 if count else 0
        sum_ts = 0
        if count:
            h0, h1 = self.hour_of(i0), self.hour_of(i1 - 1)
            for h in range(h0, h1 + 1):
                first, n = self.hour_first(h), self.hour_rows(h)
                j0 = max(i0, first) - first
                j1 = min(i1, first + n) - first
                if j1 <= j0:
                    continue
                sum_ts += (j1 - j0) * (self.start + h * HOUR)
                if n > 1:
                    sum_ts += floor_sum(j1, n - 1, HOUR - 1, 0) - floor_sum(j0, n - 1, HOUR - 1, 0)
        out = {"table": self.name, "from": kql.format_datetime(lo), "to": kql.format_datetime(hi),
               "count": count, "first_index": i0, "sum_report_id": sum_id,
               "sum_report_id_squared": sum_sq, "sum_timestamp_ticks": sum_ts,
               "first_timestamp": kql.format_datetime(self.timestamp(i0)) if count else None,
               "last_timestamp": kql.format_datetime(self.timestamp(i1 - 1)) if count else None}
        out["report_id_is_long"] = bool(self.report_pos and self.report_pos[1] == "long")
        return out

    def describe(self):
        return {"table": self.name, "rows": self.rows, "days": self.days, "seed": self.seed,
                "start": kql.format_datetime(self.start), "end": kql.format_datetime(self.end),
                "rows_per_hour": self.base, "hours_with_one_more": self.extra}


# --------------------------------------------------------------------------
# Which tables a request sees

_LOCK = threading.Lock()
_CACHE = PerState(dict)     # HuntingStore -> {spec key: GeneratedTable}


def tables_for(state, store, snap):
    """{name: GeneratedTable} for the state's (or tenant view's) config."""
    with state.lock:
        specs = state.config.get("hunting_generated") or []
    if not specs:
        return {}
    out = {}
    with _LOCK:
        cache = _CACHE.get(store)
        for spec in specs:
            seed = spec["seed"] if spec["seed"] is not None else snap.seed
            key = (snap.generation, spec["table"], spec["rows"], spec["days"], seed, snap.anchor)
            table = cache.get(key)
            if table is None:
                table = cache[key] = GeneratedTable(spec["table"], spec["rows"], spec["days"], seed,
                                                    snap.anchor)
            out[spec["table"]] = table
        for key in [k for k in cache if k[0] != snap.generation]:
            del cache[key]
    return out


def cache_key(tables):
    return tuple(sorted(t.spec_key() for t in tables.values()))


# --------------------------------------------------------------------------
# Streaming evaluation

def _conjuncts(node):
    if node.kind == "logic" and node.op == "and":
        return _conjuncts(node.a) + _conjuncts(node.b)
    return [node]


def _const(node, ctx):
    try:
        ce = kql.compile_expr(node, kql.Scope([], ctx, "where"))
    except kql.KqlError:
        return None, None
    if not ce.const or ce.value is None:
        return None, None
    return ce.value, ce.type


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}


def _bounds(pred, ctx, lo, hi):
    """Narrow [lo, hi] (inclusive ticks) by the Timestamp conjuncts of pred;
    returns (lo, hi, whether every conjunct was such a bound)."""
    used = 0
    conjuncts = _conjuncts(pred)
    for c in conjuncts:
        if c.kind == "cmp" and c.op in _FLIP:
            op, col, other = c.op, c.a, c.b
            if not (col.kind == "col" and col.name == "Timestamp"):
                op, col, other = _FLIP[c.op], c.b, c.a
            if not (col.kind == "col" and col.name == "Timestamp"):
                continue
            value, typ = _const(other, ctx)
            if typ != "datetime":
                continue
            if op in (">=", "=="):
                lo = max(lo, value)
            if op == ">":
                lo = max(lo, value + 1)
            if op in ("<=", "=="):
                hi = min(hi, value)
            if op == "<":
                hi = min(hi, value - 1)
            used += 1
        elif c.kind == "between" and not c.negate and c.a.kind == "col" and c.a.name == "Timestamp":
            low, lt = _const(c.lo, ctx)
            high, ht = _const(c.hi, ctx)
            if lt != "datetime" or ht not in ("datetime", "timespan"):
                continue
            lo = max(lo, low)
            hi = min(hi, low + high if ht == "timespan" else high)
            used += 1
    return lo, hi, used == len(conjuncts)


def _count_only(op):
    return (op.kind == "summarize" and op.aggs
            and all(expr.kind == "call" and expr.name == "count" and not expr.args for _, expr in op.aggs))


def run_streaming(query, tables, resolve, lo, hi, now, row_limit):
    """Evaluate `query` with its generated table streamed, or None when the
    query has another shape (the caller then runs it with kql.run)."""
    tree = kql.parse(query)
    body = tree.body
    if tree.lets or body.source.kind != "table" or body.source.name not in tables:
        return None
    table = tables[body.source.name]
    ctx = kql.Context(resolve, now)
    ops = list(body.ops)
    k = 0
    while k < len(ops) and ops[k].kind in ROW_WISE:
        k += 1
    prefix, rest = ops[:k], ops[k:]
    only_bounds = True       # every row-wise operator is a where made of Timestamp bounds
    for op in prefix:
        if op.kind != "where":
            only_bounds = False
            break
        lo, hi, whole = _bounds(op.pred, ctx, lo, hi)
        only_bounds = only_bounds and whole
    i0, i1 = table.index_range(lo, hi) if lo <= hi else (0, 0)

    def apply(t, operators):
        for op in operators:
            t = kql.OPERATORS[op.kind](op, t, ctx)
        return t

    columns = apply(kql.Table(table.columns, []), prefix).columns   # also reports semantic errors

    def chunks():
        for a in range(i0, i1, CHUNK):
            yield apply(kql.Table(table.columns, table.row_values(a, min(a + CHUNK, i1))), prefix)

    def collect(limit):
        rows = []
        for t in chunks():
            rows.extend(t.rows[:limit - len(rows)])
            if len(rows) >= limit:
                break
        return rows

    if not rest:
        return kql.Table(columns, collect(row_limit))
    first = rest[0]
    if first.kind == "take":
        n = kql._count_arg(first, ctx)
        if not rest[1:]:
            return kql.Table(columns, collect(min(n, row_limit)))
        rows = collect(min(n, MATERIALIZE_MAX + 1))
        if len(rows) > MATERIALIZE_MAX:
            raise _too_many(rest[1].opname, table.name)
        return apply(kql.Table(columns, rows), rest[1:])
    if first.kind == "count":
        # the index range is the answer when nothing else filters
        total = i1 - i0 if only_bounds else sum(len(t.rows) for t in chunks())
        return apply(kql.Table([("Count", "long")], [(total,)]), rest[1:])
    if _count_only(first) and not any(t == "dynamic" for _, t in columns):
        merged, out_columns = {}, None
        for t in chunks():
            part = kql.OPERATORS["summarize"](first, t, ctx)
            out_columns = part.columns
            nkeys = len(first.bys)
            for r in part.rows:
                key = r[:nkeys]
                if key in merged:
                    merged[key] = tuple(x + y for x, y in zip(merged[key], r[nkeys:]))
                else:
                    merged[key] = r[nkeys:]
        if out_columns is None:
            result = kql.OPERATORS["summarize"](first, kql.Table(columns, []), ctx)
        else:
            result = kql.Table(out_columns, [key + vals for key, vals in merged.items()])
        return apply(result, rest[1:])
    rows = collect(MATERIALIZE_MAX + 1)
    if len(rows) > MATERIALIZE_MAX:
        raise _too_many(first.opname, table.name)
    return apply(kql.Table(columns, rows), rest)


def _too_many(opname, name):
    return kql.KqlSemanticError(
        "The emulator can run '%s' over the generated table '%s' only on up to %d rows: narrow the "
        "Timestamp range, or use take, count or summarize count()." % (opname, name, MATERIALIZE_MAX))


# --------------------------------------------------------------------------
# Control API

def _tables(req):
    import hunting
    import tenants
    base = req.state
    target = base
    tid = req.query_dict().get("tenant")
    if tid and not tenants.is_default(tid):
        target = tenants.registry_for(base).views.get(tid.lower())
        if target is None:
            return None
    store = hunting.store_for(target)
    snap = store.sync(target)
    return tables_for(target, store, snap)


def _ok(obj, status=200):
    return Response(status=status, obj=obj, content_type=PLAIN_JSON)


def control_list(req):
    """GET /_emulator/hunting/generated[?tenant=]: the generated tables' layout."""
    tables = _tables(req)
    if tables is None:
        return _ok({"error": "no such tenant"}, 404)
    return _ok({"tables": [t.describe() for t in tables.values()]})


def control_truth(req):
    """GET /_emulator/hunting/generated/<Table>[?from=&to=&tenant=]: ground
    truth for the rows with from <= Timestamp < to (default: all)."""
    tables = _tables(req)
    if tables is None:
        return _ok({"error": "no such tenant"}, 404)
    table = tables.get(req.params["table"])
    if table is None:
        return _ok({"error": "%s is not a generated table" % req.params["table"]}, 404)
    q = req.query_dict()
    try:
        lo = kql.parse_datetime(q["from"]) if q.get("from") else table.start
        hi = kql.parse_datetime(q["to"]) if q.get("to") else table.end
    except (kql.KqlError, ValueError) as err:
        return _ok({"error": "bad from/to: %s" % err}, 400)
    if lo is None or hi is None:
        return _ok({"error": "bad from/to"}, 400)
    return _ok(dict(table.ground_truth(lo, hi), layout=table.describe()))


CONTROL_ROUTES = [
    ("GET", r"/_emulator/hunting/generated", control_list),
    ("GET", r"/_emulator/hunting/generated/(?P<table>[A-Za-z0-9_]+)", control_truth),
]
