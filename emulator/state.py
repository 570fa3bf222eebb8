"""All mutable emulator state behind one lock: configuration, fixture data,
issued tokens, the request log, armed faults, and the shutdown event.

Handlers run on many threads (one per connection), so every read or write
goes through the methods here.
"""

import copy
import threading

import fixtures
from faults import FaultBook

# Settable through the CLI, /_emulator/reset and /_emulator/config.
CONFIG_TYPES = {
    "incidents": int,
    "seed": int,
    "token_lifetime": int,
    "latency_ms": (int, float),
}
DEFAULT_CONFIG = {"incidents": 130, "seed": 1, "token_lifetime": 3599, "latency_ms": 0}
MAX_INCIDENTS = 100_000


def validate_config(obj):
    """Check a config object from the control API; raises ValueError."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    for key, value in obj.items():
        if key not in CONFIG_TYPES:
            raise ValueError("unknown key %r; expected some of %s" % (key, ", ".join(CONFIG_TYPES)))
        if isinstance(value, bool) or not isinstance(value, CONFIG_TYPES[key]):
            raise ValueError("%r must be a number" % key)
        if key != "seed" and value < 0:
            raise ValueError("%r must not be negative" % key)
    if obj.get("incidents", 0) > MAX_INCIDENTS:
        raise ValueError("'incidents' must be at most %d" % MAX_INCIDENTS)
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
        self._log = []
        self._seq = 0                       # never reset, so ?since= survives resets
        self._conn_serial = 0
        self._regenerate()

    # ---- data -----------------------------------------------------------
    def _regenerate(self):
        incidents = fixtures.generate_incidents(self.config["incidents"], self.config["seed"])
        with self.lock:
            self._incidents = incidents
            self._incidents_by_id = {inc["id"]: inc for inc in incidents}

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
            self._log = []
            for info in self._tokens.values():
                info.revoked = False
            self.faults.clear()
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
