"""All mutable emulator state behind one lock: configuration, fixture data,
issued tokens, the request log, armed faults, and the shutdown event.

Handlers run on many threads (one per connection), so every read or write
goes through the methods here.
"""

import collections
import copy
import gc
import threading

import fixtures
import odata
from alerts import SCHEMA as ALERT_SCHEMA
from faults import FaultBook
from incidents import SCHEMA as INCIDENT_SCHEMA

# Settable through the CLI, /_emulator/reset and /_emulator/config.
CONFIG_TYPES = {
    "incidents": int,
    "seed": int,
    "token_lifetime": int,
    "latency_ms": (int, float),
    # the largest $top alerts_v2 accepts (alerts.MAX_TOP when unset): a
    # tenant whose service caps pages lower than the extension assumes
    "alerts_max_top": int,
    # 1: enumeration values answered in PascalCase ("Active", "TruePositive"),
    # as Microsoft's documented example responses spell them; filters still
    # compare them ignoring case, as Graph does
    "pascal_enums": int,
    # 1: a service that ignores $count=true (no @odata.count in any answer)
    "omit_odata_count": int,
    # advanced hunting (hunting.py; defaults in hunting.DEFAULTS)
    "hunting_rows": int,
    "hunting_seed": int,
    "hunting_quota_per_minute": int,
    "hunting_max_result_bytes": int,
    # the request log keeps the last N entries (0: all); long runs such as
    # the million-row bench would otherwise grow it without bound
    "log_max_entries": int,
}
DEFAULT_LOG_MAX_ENTRIES = 100_000
MAX_HUNTING_ROWS = 1_000_000
DEFAULT_CONFIG = {"incidents": 130, "seed": 1, "token_lifetime": 3599, "latency_ms": 0}
MAX_INCIDENTS = 100_000
QUERY_CACHE_SIZE = 64   # filtered/ordered result lists kept per data version
PAGE_CACHE_SIZE = 1024  # encoded list pages kept per data version (odata.cached_list_page)
REGENERATE_KEYS = ("incidents", "seed")   # the settings _regenerate() reads; add any new one here

# Settings owned by other modules (tenants.py, quota.py, hunting_caps.py,
# bandwidth.py, generated_tables.py): key -> validator(value) returning the
# value to store or raising ValueError.  Filled at import time by register_config.
EXTENSION_CONFIG = {}


def register_config(key, validator):
    """Let a module accept `key` in the CLI-built config, /_emulator/reset and
    /_emulator/config; validator(value) returns the stored value."""
    EXTENSION_CONFIG[key] = validator


def validate_config(obj):
    """Check a config object from the control API; raises ValueError."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    obj = dict(obj)
    for key, value in list(obj.items()):
        if key in EXTENSION_CONFIG:
            obj[key] = EXTENSION_CONFIG[key](value)
            continue
        if key not in CONFIG_TYPES:
            raise ValueError("unknown key %r; expected some of %s"
                             % (key, ", ".join(list(CONFIG_TYPES) + sorted(EXTENSION_CONFIG))))
        if isinstance(value, bool) or not isinstance(value, CONFIG_TYPES[key]):
            raise ValueError("%r must be a number" % key)
        if key not in ("seed", "hunting_seed") and value < 0:
            raise ValueError("%r must not be negative" % key)
    if obj.get("incidents", 0) > MAX_INCIDENTS:
        raise ValueError("'incidents' must be at most %d" % MAX_INCIDENTS)
    if obj.get("hunting_rows", 0) > MAX_HUNTING_ROWS:
        raise ValueError("'hunting_rows' must be at most %d" % MAX_HUNTING_ROWS)
    return dict(obj)


class State:
    def __init__(self, config, verbose=False):
        self.lock = threading.RLock()
        self.shutdown = threading.Event()   # set on SIGTERM: wakes sleeping faults
        self.verbose = verbose
        self.scheme = "http"
        self.listen_authority = "127.0.0.1"
        self.startup_config = dict(config)
        self.config = dict(config)
        self.faults = FaultBook()
        self._tokens = {}                   # token string -> auth.TokenInfo
        self._token_order = []
        self._log = collections.deque()
        self._seq = 0                       # never reset, so ?since= survives resets
        self._conn_serial = 0
        self.reset_count = 0                # bumped by reset(); read by hunting.py
        self.data_version = 0               # bumped whenever the data is regenerated
        self._query_cache = collections.OrderedDict()
        self._page_cache = collections.OrderedDict()
        self._generated_for = None          # _data_key() of untouched generated data
        self._regenerate()

    # ---- data -----------------------------------------------------------
    def _generate_data(self):
        """(incidents, alerts) for the current settings; tenants.py overrides it."""
        incidents = fixtures.generate_incidents(self.config["incidents"], self.config["seed"])
        return incidents, fixtures.generate_alerts(incidents, self.config["seed"])

    def _regenerate(self):
        incidents, alerts = self._generate_data()
        by_incident = {}
        for alert in sorted(alerts, key=lambda a: (a["_created_ticks"], a["id"])):
            by_incident.setdefault(alert["incidentId"], []).append(alert)
        odata.prepare_rows(incidents, INCIDENT_SCHEMA)   # wire JSON and filter view, once
        odata.prepare_rows(alerts, ALERT_SCHEMA)
        with self.lock:
            self._incidents = incidents
            self._incidents_by_id = {inc["id"]: inc for inc in incidents}
            self._alerts = alerts
            self._alerts_by_id = {alert["id"]: alert for alert in alerts}
            self._alerts_by_incident = by_incident
            self.data_changed()
            self._generated_for = self._data_key()
        # Millions of long-lived fixture objects make full GC passes slow
        # (100+ ms at 5,000 incidents); keep them out of the collector.
        gc.collect()
        gc.freeze()

    def _data_key(self):
        """The settings the generated incidents and alerts depend on."""
        return tuple(self.config.get(key) for key in REGENERATE_KEYS)

    def data_changed(self):
        """Call after changing any stored row: drops the cached query results
        and makes the next reset regenerate.  A changed row must also lose its
        '_json' key (its cached wire JSON)."""
        with self.lock:
            self.data_version += 1
            self._query_cache.clear()
            self._page_cache.clear()
            self._generated_for = None

    def cached_query(self, key, compute):
        """compute() (a list of rows for an OData query), cached under key
        until the data changes.  Runs under the lock so a result never mixes
        two data versions."""
        with self.lock:
            result = self._query_cache.get(key)
            if result is None:
                result = compute()
                self._query_cache[key] = result
                while len(self._query_cache) > QUERY_CACHE_SIZE:
                    self._query_cache.popitem(last=False)
            else:
                self._query_cache.move_to_end(key)
            return result

    def cached_page(self, key):
        """The encoded body of a list page stored under key for the current
        data version, or None."""
        with self.lock:
            encoded = self._page_cache.get(key)
            if encoded is not None:
                self._page_cache.move_to_end(key)
            return encoded

    def store_page(self, key, encoded):
        with self.lock:
            self._page_cache[key] = encoded
            while len(self._page_cache) > PAGE_CACHE_SIZE:
                self._page_cache.popitem(last=False)

    def alerts_snapshot(self):
        """The alerts_v2 rows in default order (newest createdDateTime first,
        ties by id); rows are shared like incidents_snapshot's."""
        with self.lock:
            return list(self._alerts)

    def find_alert(self, alert_id):
        with self.lock:
            return self._alerts_by_id.get(alert_id)

    def alerts_of_incident(self, incident_id):
        """The alerts whose incidentId is incident_id, oldest first."""
        with self.lock:
            return list(self._alerts_by_incident.get(incident_id, ()))

    def modify_row(self, collection, row_id, change):
        """Apply change(row) to the stored incident ("incidents") or alert
        ("alerts_v2") row_id, under the lock, and refresh what depends on it
        (its wire JSON, the filter views, cached query results).  change must
        only replace top-level keys, including the ticks keys it changes.
        Returns the row, or None when no row has that id."""
        with self.lock:
            if collection == "incidents":
                rows, by_id, schema = self._incidents, self._incidents_by_id, INCIDENT_SCHEMA
            elif collection == "alerts_v2":
                rows, by_id, schema = self._alerts, self._alerts_by_id, ALERT_SCHEMA
            else:
                raise ValueError("unknown collection %r" % collection)
            row = by_id.get(row_id)
            if row is None:
                return None
            change(row)
            row.pop("_json", None)
            odata.prepare_rows(rows, schema)     # new _json for this row, new _slim views
            self.data_changed()
            return row

    def incidents_snapshot(self):
        """The incidents in default order (newest first); rows are shared,
        callers copy with fixtures.strip_private before changing them."""
        with self.lock:
            return list(self._incidents)

    def find_incident(self, incident_id):
        with self.lock:
            return self._incidents_by_id.get(incident_id)

    # ---- configuration ----------------------------------------------------
    def reset(self, overrides):
        """Back to the startup configuration plus overrides: clears the log,
        faults and revocations and regenerates the data."""
        with self.lock:
            self.config = dict(self.startup_config)
            self.config.update(overrides)
            self._log = collections.deque()
            for info in self._tokens.values():
                info.revoked = False
            self.faults.clear()
            self.reset_count += 1           # hunting.py re-anchors its tables on this
            # Generated data nobody changed (see data_changed) is kept as is.
            if self._generated_for != self._data_key():
                self._regenerate()

    def configure(self, overrides):
        """Change settings in place; regenerates data only if its shape changed."""
        with self.lock:
            old = (self.config["incidents"], self.config["seed"])
            self.config.update(overrides)
            if (self.config["incidents"], self.config["seed"]) != old:
                self._regenerate()

    # ---- tokens -----------------------------------------------------------
    def add_token(self, info):
        with self.lock:
            self._tokens[info.token] = info
            self._token_order.append(info.token)

    def find_token(self, token):
        with self.lock:
            return self._tokens.get(token)

    def all_tokens(self):
        with self.lock:
            return list(self._token_order)

    def revoke_all(self):
        with self.lock:
            for info in self._tokens.values():
                info.revoked = True

    # ---- connections and the request log ------------------------------------
    def connections_accepted(self):
        """How many connections have been accepted (and, with TLS, completed
        their handshake) since startup; never reset."""
        with self.lock:
            return self._conn_serial

    def next_conn_serial(self):
        with self.lock:
            self._conn_serial += 1
            return self._conn_serial

    def log_start(self, entry):
        """Append a log entry when a request arrives; it is completed later
        through log_finish.  Returns the entry."""
        with self.lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log.append(entry)
            keep = self.config.get("log_max_entries", DEFAULT_LOG_MAX_ENTRIES)
            while keep and len(self._log) > keep:
                self._log.popleft()
            return entry

    def log_finish(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    def log_since(self, since):
        with self.lock:
            return [copy.deepcopy(e) for e in self._log if e["seq"] > since]

    # ---- time -------------------------------------------------------------
    def sleep(self, seconds):
        """Sleep, waking early when the server shuts down."""
        if seconds > 0:
            self.shutdown.wait(seconds)
