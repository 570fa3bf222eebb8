"""Per-tenant request quotas, as the service enforces them, and per-tenant
request counters for tests.

Two sliding windows per tenant (the token's tenant, see tenants.py):
  hunting  POST .../security/runHuntingQuery
           (Graph: "at least 45 calls per minute per tenant"; the older
           hunting APIs also 1,500 an hour)
  graph    every other request under /{v1.0|beta}/security/ (incidents,
           alerts_v2, their PATCHes and comments; the Defender incidents API
           documents 50 calls per minute, Graph's throttling page 150 per
           minute per app per tenant for /security)
Config keys (0 = that quota is off, the default):
  quota_hunting      calls per window for hunting (45 is the documented figure)
  quota_graph        calls per window for graph (50)
  quota_window_s     window length in seconds (default 60; shorter for tests)
  quota_count_rejected  1 (default): a refused call counts too, as Graph says
                     "all requests accrue against your usage limits"; 0: only
                     admitted calls count
A call beyond the quota gets 429 with Retry-After (whole seconds until the
window has room again) and Graph's error body; the hunting message is the one
the service sends ("API calls quota exceeded! maximum allowed 45 per
00:01:00"), the graph one Graph's generic "Please retry again later.".

Counters (GET /_emulator/quota) are kept whether or not a quota is on:
calls, admitted and throttled per kind, the times of the 429s, the largest
number of 429s in any window-long interval, and the peak number of requests
of the tenant being served at once.  A reset clears them.
"""

import collections
import math
import re
import threading
import time

import state as state_module
from common import PLAIN_JSON, PerState, Response, graph_error

KINDS = ("hunting", "graph")
DOCUMENTED = {"hunting": 45, "graph": 50}
DEFAULT_WINDOW_S = 60.0
_HUNTING_PATH = re.compile(r"^/(v1\.0|beta)/security/runHuntingQuery/?$", re.IGNORECASE)
_SECURITY_PATH = re.compile(r"^/(v1\.0|beta)/security(/|$)", re.IGNORECASE)


def _count(key):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("%r must be a non-negative integer" % key)
        return value
    return check


def _window(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise ValueError("'quota_window_s' must be a number of seconds in (0, 86400]")
    return value


state_module.register_config("quota_hunting", _count("quota_hunting"))
state_module.register_config("quota_graph", _count("quota_graph"))
state_module.register_config("quota_window_s", _window)
state_module.register_config("quota_count_rejected", _count("quota_count_rejected"))


def kind_of(req):
    """'hunting', 'graph' or None (not counted) for a request."""
    if _HUNTING_PATH.match(req.path):
        return "hunting"
    if _SECURITY_PATH.match(req.path):
        return "graph"
    return None


def format_window(seconds):
    """The window as the service prints it: 00:01:00 (hh:mm:ss; fractions kept)."""
    whole = int(seconds)
    text = "%02d:%02d:%02d" % (whole // 3600, whole % 3600 // 60, whole % 60)
    frac = seconds - whole
    if frac > 1e-9:
        text += ("%.7f" % frac)[1:].rstrip("0")
    return text


class _TenantCounters:
    def __init__(self):
        self.entries = {k: collections.deque() for k in KINDS}   # times that occupy the window
        self.calls = dict.fromkeys(KINDS, 0)
        self.admitted = dict.fromkeys(KINDS, 0)
        self.throttled = dict.fromkeys(KINDS, 0)
        self.throttled_at = {k: [] for k in KINDS}                # seconds since the epoch of the book
        self.in_flight = 0
        self.peak = 0


class QuotaBook:
    """The counters of one State."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset_seen = None
        self.epoch = time.monotonic()
        self.tenants = collections.OrderedDict()

    def sync(self, base):
        with base.lock:
            reset_count = base.reset_count
        with self.lock:
            if reset_count != self.reset_seen:
                self.reset_seen = reset_count
                self.epoch = time.monotonic()
                self.tenants.clear()

    def _tenant(self, tenant):
        counters = self.tenants.get(tenant)
        if counters is None:
            counters = self.tenants[tenant] = _TenantCounters()
        return counters

    def arrive(self, tenant):
        """Count a request of tenant in flight; returns its counters."""
        with self.lock:
            t = self._tenant(tenant)
            t.in_flight += 1
            t.peak = max(t.peak, t.in_flight)
            return t

    def admit(self, tenant, kind, limit, window, count_rejected):
        """None when the call may run, else the Retry-After seconds."""
        now = time.monotonic()
        with self.lock:
            t = self._tenant(tenant)
            t.calls[kind] += 1
            if limit > 0:
                q = t.entries[kind]
                while q and now - q[0] >= window:
                    q.popleft()
                if len(q) >= limit:
                    # room again once all but limit-1 entries have left
                    leave = q[len(q) - limit]
                    if count_rejected:
                        q.append(now)
                    t.throttled[kind] += 1
                    t.throttled_at[kind].append(round(now - self.epoch, 3))
                    return max(1, int(math.ceil(window - (now - leave))))
                q.append(now)
            t.admitted[kind] += 1
            return None

    def leave(self, counters):
        with self.lock:
            counters.in_flight -= 1     # the counters it arrived in, even after a reset

    def describe(self, window):
        with self.lock:
            out = collections.OrderedDict()
            for tenant, t in self.tenants.items():
                entry = {"peak_concurrency": t.peak, "in_flight": t.in_flight}
                for kind in KINDS:
                    times = t.throttled_at[kind]
                    entry[kind] = {"calls": t.calls[kind], "admitted": t.admitted[kind],
                                   "throttled": t.throttled[kind], "throttled_at": list(times),
                                   "max_throttled_in_window": _max_in_window(times, window)}
                out[tenant] = entry
            return out


def _max_in_window(times, window):
    """The most entries of sorted `times` inside any half-open interval of
    length `window`."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


book_for = PerState(QuotaBook, synced=True).get      # book_for(state) -> its QuotaBook


def settings(base):
    with base.lock:
        cfg = base.config
        return ({k: cfg.get("quota_" + k, 0) or 0 for k in KINDS},
                cfg.get("quota_window_s") or DEFAULT_WINDOW_S,
                cfg.get("quota_count_rejected", 1))


class Visit:
    """A request of a tenant being served; leave() when it is done."""

    def __init__(self, book, counters):
        self.book = book
        self.counters = counters

    def leave(self):
        self.book.leave(self.counters)


def arrive(base, tenant):
    """Pipeline hook once the tenant is known: a Visit (None without a tenant)."""
    if tenant is None:
        return None
    book = book_for(base)
    return Visit(book, book.arrive(tenant))


def admit(req, base, tenant):
    """Pipeline hook before the handler: a 429 response past the tenant's
    quota, else None."""
    kind = kind_of(req)
    if kind is None:
        return None
    book = book_for(base)
    limits, window, count_rejected = settings(base)
    retry_after = book.admit(tenant, kind, limits[kind], window, count_rejected)
    if retry_after is None:
        return None
    if kind == "hunting":
        message = "API calls quota exceeded! maximum allowed %d per %s" % (limits[kind], format_window(window))
    else:
        message = "Please retry again later."
    return graph_error(req, 429, "TooManyRequests", message,
                       headers=[("Retry-After", str(retry_after))])


# --------------------------------------------------------------------------
# Control API

def control_get(req):
    """GET /_emulator/quota: settings and per-tenant counters."""
    base = req.state
    book = book_for(base)
    limits, window, count_rejected = settings(base)
    return Response(status=200, content_type=PLAIN_JSON, obj={
        "limits": limits, "window_s": window, "count_rejected": count_rejected,
        "tenants": book.describe(window)})


CONTROL_ROUTES = [("GET", r"/_emulator/quota", control_get)]
