"""Graph advanced hunting: POST /{v1.0|beta}/security/runHuntingQuery.

Body {"Query": "<KQL>", "Timespan": "<ISO 8601>"?}.  The query runs through
kql.py over the fixture tables of hunting_fixtures.py; rows of tables with a
Timestamp column are visible only inside the Timespan window (default: the
30 days up to now).  The answer is
  {"@odata.context": ".../$metadata#microsoft.graph.security.huntingQueryResults",
   "schema": [{"name","type"}], "results": [{column: value}]}
with Graph's type names (String, DateTime, Boolean, Int32, Int64, Double,
Decimal, TimeSpan, Guid, Object).

Per-State bookkeeping lives in a HuntingStore (lazy tables per data
generation, the result cache, the quota window).  It notices resets through
State.reset_count and config changes through hunting_rows / hunting_seed.
"""

import collections
import gc
import itertools
import json
import math
import re
import threading
import time
from json.encoder import encode_basestring

import generated_tables
import hunting_caps
import hunting_fixtures
import kql
from common import PLAIN_JSON, PerState, Response, graph_error

DEFAULTS = {"hunting_rows": 200, "hunting_seed": 1, "hunting_quota_per_minute": 0,
            "hunting_max_result_bytes": 50 * 1024 * 1024}
DEFAULT_WINDOW_TICKS = 30 * kql.TICKS_PER_DAY
CACHE_MAX_BYTES = 1536 * 1024 * 1024
CHUNK_ROWS = 4096
BODY_KEYS = ("Query", "Timespan", "workspaceId")

SIZE_LIMIT_MESSAGE = ('Result size limit exceeded. Use "summarize" to aggregate results, "project" to drop '
                      'uninteresting columns, or "take" to truncate results.')


def now_ticks():
    return time.time_ns() // 100


def setting(state, key):
    with state.lock:
        value = state.config.get(key)
    return DEFAULTS[key] if value is None else value


# ==========================================================================
# Per-State store

class _Snapshot:
    __slots__ = ("generation", "anchor", "rows", "seed")

    def __init__(self, generation, anchor, rows, seed):
        self.generation = generation
        self.anchor = anchor
        self.rows = rows
        self.seed = seed


class HuntingStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.gen_lock = threading.Lock()
        self.reset_seen = object()
        self.anchor = None
        self.params = None
        self.generation = 0
        self.tables = {}                      # (generation, name) -> kql.Table
        self.cache = collections.OrderedDict()   # key -> body bytes
        self.cache_bytes = 0
        self.hits = 0
        self.misses = 0
        self.calls = collections.deque()       # monotonic times of admitted calls

    def sync(self, state):
        """Follow resets and hunting_rows/hunting_seed changes; returns a _Snapshot."""
        with state.lock:
            reset_count = getattr(state, "reset_count", 0)
            rows = state.config.get("hunting_rows", DEFAULTS["hunting_rows"])
            seed = state.config.get("hunting_seed", DEFAULTS["hunting_seed"])
        with self.lock:
            changed = False
            if reset_count != self.reset_seen:
                self.reset_seen = reset_count
                self.anchor = now_ticks()
                self.calls.clear()
                changed = True
            if (rows, seed) != self.params:
                self.params = (rows, seed)
                changed = True
            if changed:
                self.generation += 1
                self.tables = {}
                self.cache.clear()
                self.cache_bytes = 0
            return _Snapshot(self.generation, self.anchor, rows, seed)

    def table(self, snap, name):
        """The full (unwindowed) fixture table, generated on first use."""
        if name not in hunting_fixtures.SCHEMAS:
            return None
        key = (snap.generation, name)
        with self.lock:
            table = self.tables.get(key)
        if table is not None:
            return table
        with self.gen_lock:
            with self.lock:
                table = self.tables.get(key)
            if table is None:
                table = hunting_fixtures.generate_table(name, snap.rows, snap.seed, snap.anchor)
                with self.lock:
                    if snap.generation == self.generation:
                        self.tables[key] = table
                # Keep the (possibly millions of) long-lived row objects out of
                # the cyclic collector, as state.py does for incidents; they are
                # still freed by reference counting when a new generation
                # replaces them.
                gc.freeze()
        return table

    # ---- result cache ---------------------------------------------------------
    def cache_get(self, key):
        with self.lock:
            body = self.cache.get(key)
            if body is not None:
                self.cache.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return body

    def cache_put(self, key, generation, body):
        if len(body) > CACHE_MAX_BYTES:
            return
        with self.lock:
            if generation != self.generation or key in self.cache:
                return
            self.cache[key] = body
            self.cache_bytes += len(body)
            while self.cache_bytes > CACHE_MAX_BYTES:
                _, old = self.cache.popitem(last=False)
                self.cache_bytes -= len(old)

    def cache_stats(self):
        with self.lock:
            return {"generation": self.generation, "entries": len(self.cache), "bytes": self.cache_bytes,
                    "hits": self.hits, "misses": self.misses}

    # ---- quota ------------------------------------------------------------------
    def admit(self, limit):
        """None when the call may run, else the Retry-After seconds."""
        if limit <= 0:
            return None
        now = time.monotonic()
        with self.lock:
            while self.calls and now - self.calls[0] >= 60.0:
                self.calls.popleft()
            if len(self.calls) >= limit:
                return max(1, int(math.ceil(60.0 - (now - self.calls[0]))))
            self.calls.append(now)
            return None


_STORES = PerState(HuntingStore)


def store_for(state):
    return _STORES.get(state)


# ==========================================================================
# Timespan

_DURATION_RE = re.compile(
    r"^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)
_DURATION_UNITS = (365 * kql.TICKS_PER_DAY, 30 * kql.TICKS_PER_DAY, 7 * kql.TICKS_PER_DAY, kql.TICKS_PER_DAY,
                   3600 * kql.TICKS_PER_SECOND, 60 * kql.TICKS_PER_SECOND, kql.TICKS_PER_SECOND)


def _duration(text):
    m = _DURATION_RE.match(text.strip())
    if not m:
        return None
    total = 0
    for value, unit in zip(m.groups(), _DURATION_UNITS):
        if value:
            total += int(float(value) * unit)
    return total


def _instant(text):
    text = text.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    return kql.parse_datetime(text)


def parse_timespan(text, now):
    """Graph's Timespan -> (start, end) ticks; raises ValueError."""
    if text is None:
        return now - DEFAULT_WINDOW_TICKS, now
    parts = text.split("/")
    if len(parts) == 1:
        span = _duration(parts[0])
        if span is not None:
            return now - span, now
        start = _instant(parts[0])
        if start is not None:
            return start, now
    elif len(parts) == 2:
        a, b = parts
        start, end = _instant(a), _instant(b)
        if start is not None and end is not None:
            if end < start:
                raise ValueError("end before start")
            return start, end
        span_a, span_b = _duration(a), _duration(b)
        if span_a is not None and end is not None:
            return end - span_a, end
        if start is not None and span_b is not None:
            return start, start + span_b
    raise ValueError("bad timespan")


# ==========================================================================
# Serialisation

def _enc_string(col):
    try:
        return list(map(encode_basestring, col))
    except TypeError:             # a null slipped in: Kusto strings are never null
        return [encode_basestring(v) if isinstance(v, str) else '""' for v in col]


def _enc_int(col):
    return ["null" if v is None else str(v) for v in col]


def _real_json(v):
    if v is None:
        return "null"
    if v != v:
        return '"NaN"'
    if v in (math.inf, -math.inf):
        return '"Infinity"' if v > 0 else '"-Infinity"'
    return repr(v)


def _enc_real(col):
    return [_real_json(v) for v in col]


def _enc_bool(col):
    return ["null" if v is None else ("true" if v else "false") for v in col]


def _enc_datetime(col):
    fmt = kql.format_datetime
    return ["null" if v is None else '"' + fmt(v) + '"' for v in col]


def _enc_timespan(col):
    fmt = kql.format_timespan
    return ["null" if v is None else '"' + fmt(v) + '"' for v in col]


def _enc_guid(col):
    return ["null" if v is None else '"' + v + '"' for v in col]


def _enc_decimal(col):
    return ["null" if v is None else format(v, "f") for v in col]


def _enc_dynamic(col):
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    out = []
    for v in col:
        if v is None:
            out.append("null")
        elif isinstance(v, str):
            out.append(encode_basestring(v))
        else:
            try:
                out.append(dumps(v))
            except ValueError:        # NaN/Infinity inside dynamic
                out.append(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
    return out


ENCODERS = {"string": _enc_string, "long": _enc_int, "int": _enc_int, "real": _enc_real, "bool": _enc_bool,
            "datetime": _enc_datetime, "timespan": _enc_timespan, "guid": _enc_guid, "decimal": _enc_decimal,
            "dynamic": _enc_dynamic}


class SizeLimitExceeded(Exception):
    pass


_NO_POOLING = frozenset(("real", "decimal", "dynamic"))   # equal values may print differently (0.0, -0.0)


def _encode_column(name, typ, col, prefix, suffix):
    """One column of a chunk as bytes fragments b'<prefix>"name":<json><suffix>'.
    Columns with few distinct values (most fixture columns) encode each
    distinct value once."""
    key = prefix + encode_basestring(name) + ":"
    enc = ENCODERS[typ]
    if typ not in _NO_POOLING and len(col) >= 16:
        distinct = set(col)
        if len(distinct) * 4 <= len(col):
            values = list(distinct)
            table = dict(zip(values, [(key + e + suffix).encode("utf-8", "surrogatepass") for e in enc(values)]))
            return list(map(table.__getitem__, col))
    return [(key + e + suffix).encode("utf-8", "surrogatepass") for e in enc(col)]


def encode_rows(columns, rows):
    """Yield the rows as JSON objects '{"col":value,...}', comma-separated,
    in bytes chunks of CHUNK_ROWS rows."""
    width = len(columns)
    for start in range(0, len(rows), CHUNK_ROWS):
        part = rows[start:start + CHUNK_ROWS]
        if width:
            cols = list(zip(*part))
            frags = [_encode_column(name, typ, col, "{" if i == 0 else "", "}" if i == width - 1 else "")
                     for i, ((name, typ), col) in enumerate(zip(columns, cols))]
            data = b",".join(itertools.chain.from_iterable(zip(*frags)))
        else:
            data = b",".join(b"{}" for _ in part)
        yield b"," + data if start else data


def schema_json(columns):
    return [{"name": name, "type": kql.GRAPH_TYPE_NAMES[typ]} for name, typ in columns]


def results_body(prefix_obj, columns, rows, limit=0):
    """'{...prefix..., "schema":[...], "results":[rows]}' as a bytearray (the
    Response writes it as is), built without row dicts; raises
    SizeLimitExceeded when it grows past `limit` bytes (0 = no limit)."""
    head = json.dumps(prefix_obj, ensure_ascii=False, separators=(",", ":"))[:-1]
    if prefix_obj:
        head += ","
    head += '"schema":' + json.dumps(schema_json(columns), ensure_ascii=False, separators=(",", ":"))
    head += ',"results":['
    body = bytearray(head.encode("utf-8"))
    for chunk in encode_rows(columns, rows):
        body += chunk
        if limit and len(body) + 2 > limit:
            raise SizeLimitExceeded()
    body += b"]}"
    if limit and len(body) > limit:
        raise SizeLimitExceeded()
    return body


# ==========================================================================
# The endpoint

def _bad_request(req, message):
    return graph_error(req, 400, "BadRequest", message)


def _read_body(req):
    """(query, timespan) or an error Response."""
    if not req.body or not req.body.strip():
        return _bad_request(req, "Empty Payload. JSON content expected.")
    try:
        body = req.json()
    except ValueError:
        return _bad_request(req, "Unable to read JSON request payload. Please ensure Content-Type header "
                                 "is set and payload is of valid JSON format.")
    if not isinstance(body, dict):
        return _bad_request(req, "Unable to read JSON request payload. Please ensure Content-Type header "
                                 "is set and payload is of valid JSON format.")
    for key in body:
        if key not in BODY_KEYS:
            return _bad_request(req, "The parameter '%s' in the request payload is not a valid parameter "
                                     "for the operation 'runHuntingQuery'." % key)
    query = body.get("Query")
    if query is None:
        return _bad_request(req, "The 'Query' parameter is required.")
    if not isinstance(query, str):
        return _bad_request(req, "Cannot convert the literal '%s' to the expected type 'Edm.String'."
                            % json.dumps(query))
    timespan = body.get("Timespan")
    if timespan is not None and not isinstance(timespan, str):
        return _bad_request(req, "Cannot convert the literal '%s' to the expected type 'Edm.String'."
                            % json.dumps(timespan))
    return query, timespan


def run_hunting_query(req):
    """POST .../security/runHuntingQuery"""
    state = req.state
    store = store_for(state)
    snap = store.sync(state)

    retry_after = store.admit(setting(state, "hunting_quota_per_minute"))
    if retry_after is not None:
        limit = setting(state, "hunting_quota_per_minute")
        return graph_error(req, 429, "TooManyRequests",
                           "API calls quota exceeded! maximum allowed %d per 00:01:00" % limit,
                           headers=[("Retry-After", str(retry_after))])

    parsed = _read_body(req)
    if isinstance(parsed, Response):
        return parsed
    query, timespan = parsed
    now = now_ticks()
    try:
        start, end = parse_timespan(timespan, now)
    except ValueError:
        return _bad_request(req, "The Timespan '%s' is not a valid ISO 8601 time interval." % timespan)

    max_bytes = setting(state, "hunting_max_result_bytes")
    caps = hunting_caps.caps(state)
    start, end = hunting_caps.clip_window(start, end, now, caps)
    generated = generated_tables.tables_for(state, store, snap)
    key = (snap.generation, req.params.get("version", "v1.0").lower(), req.base_url, query, timespan,
           max_bytes, caps.key(), generated_tables.cache_key(generated))
    body = store.cache_get(key)
    if body is not None:
        return Response(status=200, body=body, headers=[("x-emulator-hunting-cache", "hit")])

    def resolve(name):
        if name in generated:
            return generated[name].materialize(start, end)
        table = store.table(snap, name)
        if table is None:
            return None
        if not hunting_fixtures.has_timestamp(name):
            return table
        i = [n for n, _ in table.columns].index("Timestamp")
        rows = [r for r in table.rows if r[i] is not None and start <= r[i] <= end]
        return kql.Table(table.columns, rows)

    try:
        result = None
        if generated:
            result = generated_tables.run_streaming(query, generated, resolve, start, end, now,
                                                    caps.max_rows + 1)
        if result is None:
            result = kql.run(query, resolve, now)
    except kql.KqlError as err:
        return _bad_request(req, err.message)
    except RecursionError:
        return _bad_request(req, "Query could not be parsed: the expression is nested too deeply")
    rows = result.rows
    if len(rows) > caps.max_rows:
        if not caps.cut:
            return _bad_request(req, hunting_caps.rows_message(caps.max_rows))
        rows = rows[:caps.max_rows]
    context = "%s/%s/$metadata#microsoft.graph.security.huntingQueryResults" % (
        req.base_url, req.params.get("version", "v1.0"))
    try:
        body = results_body({"@odata.context": context}, result.columns, rows, max_bytes)
    except SizeLimitExceeded:
        if not caps.cut:
            return _bad_request(req, SIZE_LIMIT_MESSAGE)
        body = hunting_caps.cut_body(results_body, encode_rows, {"@odata.context": context},
                                     result.columns, rows, max_bytes)
    store.cache_put(key, snap.generation, body)
    return Response(status=200, body=body, headers=[("x-emulator-hunting-cache", "miss")])


# ==========================================================================
# Control API: /_emulator/hunting/...

def control_tables(req):
    """GET /_emulator/hunting/tables: names, schemas and row counts."""
    store = store_for(req.state)
    snap = store.sync(req.state)
    out = []
    for name in hunting_fixtures.table_names():
        columns = hunting_fixtures.SCHEMAS[name]
        fixed = hunting_fixtures.is_fixed_table(name)
        rows = len(hunting_fixtures.generate_table(name, 0, 0, 0).rows) if fixed else snap.rows
        out.append({"name": name, "rows": rows, "timestamped": hunting_fixtures.has_timestamp(name),
                    "testOnly": fixed,
                    "schema": [{"name": c, "type": kql.GRAPH_TYPE_NAMES[t], "kqlType": t} for c, t in columns]})
    return Response(status=200, obj={"generation": snap.generation,
                                     "anchor": kql.format_datetime(snap.anchor), "tables": out},
                    content_type=PLAIN_JSON)


def control_table(req):
    """GET /_emulator/hunting/<Table>: every row (no time window), same JSON
    types as runHuntingQuery results."""
    store = store_for(req.state)
    snap = store.sync(req.state)
    name = req.params["table"]
    if name in generated_tables.tables_for(req.state, store, snap):
        return Response(status=409, obj={"error": "%s is a generated table: ask /_emulator/hunting/generated/%s "
                                                  "for its ground truth" % (name, name)},
                        content_type=PLAIN_JSON)
    table = store.table(snap, name)
    if table is None:
        return Response(status=404, obj={"error": "no hunting table %s" % name}, content_type=PLAIN_JSON)
    body = results_body({"name": name, "generation": snap.generation}, table.columns, table.rows)
    return Response(status=200, body=body, content_type=PLAIN_JSON)


def control_cache(req):
    """GET /_emulator/hunting/cache: result-cache statistics."""
    store = store_for(req.state)
    store.sync(req.state)
    return Response(status=200, obj=store.cache_stats(), content_type=PLAIN_JSON)


# (method, path regex, handler) for control.ROUTES
CONTROL_ROUTES = [
    ("GET", r"/_emulator/hunting/tables", control_tables),
    ("GET", r"/_emulator/hunting/cache", control_cache),
    ("GET", r"/_emulator/hunting/(?P<table>[A-Za-z0-9_]+)", control_table),
]
