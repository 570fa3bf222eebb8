"""Several tenants at once: each tenant its own incidents, alerts, hunting
data and latency, chosen by the tenant of the bearer token.

The chain is the one Entra and Graph use: the tenant in the token request's
URL (POST /{tenant}/oauth2/v2.0/token) becomes a claim of the issued token
(auth.TokenInfo.tenant, like the `tid` claim of a real token), and every Graph
request made with that token sees that tenant's data set.

Tenants come from the config key `tenants` (CLI --tenant / --tenants,
/_emulator/reset, /_emulator/config):
  * a number N: N generated tenants, ids generated_id(1..N);
  * a list of specs {"id", "incidents"?, "seed"?, "latency_ms"?,
    "hunting_seed"?, "name"?}; missing numbers are derived from the id
    (derived_settings), so a test can predict them.
The default tenant (fixtures.TENANT_ID, alias emulator.onmicrosoft.com) is
always there and keeps the State's own data, byte for byte; a spec with its
id only sets its latency.

A request of another tenant runs with req.state replaced by that tenant's
TenantView: the base State for everything (config, log, faults, tokens)
except the data methods, which go to the tenant's own TenantData, and the
hunting settings, which are the tenant's.
"""

import collections
import threading
import zlib

import fixtures
import state as state_module
from common import PLAIN_JSON, PerState, Response
from fixtures import strip_private

DEFAULT_TENANT = fixtures.TENANT_ID
DEFAULT_ALIASES = (DEFAULT_TENANT, "emulator.onmicrosoft.com")
SPEC_KEYS = ("id", "incidents", "seed", "latency_ms", "hunting_seed", "name")
MAX_TENANTS = 1000


def generated_id(k):
    """The id of the k-th generated tenant (1-based): a GUID whose last
    group is k, e.g. 10000000-0000-4000-8000-000000000007."""
    return "10000000-0000-4000-8000-%012d" % k


def _crc(label, tenant_id):
    return zlib.crc32(("%s|%s" % (label, tenant_id.lower())).encode("utf-8"))


def derived_settings(tenant_id):
    """The settings a tenant gets when its spec does not name them:
    incidents = 20 + crc32("incidents|<id>") % 181 (20..200),
    seed = crc32("seed|<id>"), hunting_seed = crc32("hunting|<id>"),
    latency_ms = 0 (ids lower-cased first)."""
    return {"incidents": 20 + _crc("incidents", tenant_id) % 181,
            "seed": _crc("seed", tenant_id),
            "hunting_seed": _crc("hunting", tenant_id),
            "latency_ms": 0}


def _validate(value):
    """Config validator for `tenants`: a count or a list of specs; returns
    the normalised list of specs (every number filled in)."""
    if isinstance(value, bool):
        raise ValueError("'tenants' must be a number or a list of tenant objects")
    if isinstance(value, int):
        if not 0 <= value <= MAX_TENANTS:
            raise ValueError("'tenants' must be between 0 and %d" % MAX_TENANTS)
        value = [{"id": generated_id(k)} for k in range(1, value + 1)]
    if not isinstance(value, list):
        raise ValueError("'tenants' must be a number or a list of tenant objects")
    out, seen = [], set()
    for spec in value:
        if isinstance(spec, str):
            spec = {"id": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("id"), str) or not spec["id"].strip():
            raise ValueError("a tenant needs a non-empty string 'id'")
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise ValueError("unknown tenant key(s) %s; expected some of %s"
                             % (", ".join(sorted(unknown)), ", ".join(SPEC_KEYS)))
        tid = spec["id"].strip()
        if tid.lower() in ("common", "consumers", "organizations") or "/" in tid:
            raise ValueError("%r cannot be a tenant id" % tid)
        if tid.lower() in seen:
            raise ValueError("tenant %r is listed twice" % tid)
        seen.add(tid.lower())
        full = dict(derived_settings(tid), id=tid, name=spec.get("name") or tid)
        for key in ("incidents", "seed", "hunting_seed", "latency_ms"):
            if key in spec:
                v = spec[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or (key != "latency_ms" and not isinstance(v, int)):
                    raise ValueError("tenant %r: %r must be a number" % (tid, key))
                if key in ("incidents", "latency_ms") and v < 0:
                    raise ValueError("tenant %r: %r must not be negative" % (tid, key))
                full[key] = v
        if full["incidents"] > state_module.MAX_INCIDENTS:
            raise ValueError("tenant %r: at most %d incidents" % (tid, state_module.MAX_INCIDENTS))
        out.append(full)
    return out


state_module.register_config("tenants", _validate)


# --------------------------------------------------------------------------
# One tenant's data and its view of the State

class TenantData(state_module.State):
    """A tenant's incidents and alerts, with State's data methods (lists,
    lookups, cached queries, modify_row) and nothing else."""

    def __init__(self, tenant_id, incidents, seed):   # noqa: D107 - no State.__init__ on purpose
        self.tenant_id = tenant_id
        self.lock = threading.RLock()
        self.config = {"incidents": incidents, "seed": seed}
        self.data_version = 0
        self._query_cache = collections.OrderedDict()
        self._page_cache = collections.OrderedDict()
        self._generated_for = None
        self._regenerate()

    def _generate_data(self):
        incidents, alerts = super()._generate_data()
        old, new = "tid=" + DEFAULT_TENANT, "tid=" + self.tenant_id
        for row in incidents + alerts:
            row["tenantId"] = self.tenant_id
            for key in ("incidentWebUrl", "alertWebUrl"):
                if isinstance(row.get(key), str):
                    row[key] = row[key].replace(old, new)
        return incidents, alerts

    def regenerate_if_changed(self):
        if self._generated_for != self._data_key():
            self._regenerate()


DATA_ATTRIBUTES = frozenset(("incidents_snapshot", "find_incident", "alerts_snapshot", "find_alert",
                             "alerts_of_incident", "modify_row", "cached_query", "cached_page",
                             "store_page", "data_changed",
                             "data_version"))
# hunting.py settings a tenant overrides (the rest come from the base config)
TENANT_CONFIG_KEYS = ("hunting_seed",)


class TenantView:
    """The State as one tenant's requests see it."""

    def __init__(self, base, data, spec):
        self._base = base
        self._data = data
        self.spec = spec
        self.tenant_id = spec["id"]

    def __getattr__(self, name):
        if name in DATA_ATTRIBUTES:
            return getattr(self._data, name)
        return getattr(self._base, name)

    @property
    def config(self):
        merged = dict(self._base.config)
        for key in TENANT_CONFIG_KEYS:
            merged[key] = self.spec[key]
        merged["incidents"] = self.spec["incidents"]
        merged["seed"] = self.spec["seed"]
        return merged


class Registry:
    """The tenants of one State, rebuilt when `tenants` changes or on reset."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = None          # (reset_count, tenants config) last synced
        self.specs = {}           # lower-cased id -> spec
        self.views = {}           # lower-cased id -> TenantView
        self.data = {}            # (lower id, incidents, seed) -> TenantData (kept across spec changes)

    def sync(self, base):
        with base.lock:
            key = (base.reset_count, repr(base.config.get("tenants")))
            specs = base.config.get("tenants") or []
        with self.lock:
            if key == self.seen:
                return
            reset = self.seen is None or key[0] != self.seen[0]
            self.seen = key
            self.specs = {s["id"].lower(): s for s in specs}
            views = {}
            for low, spec in self.specs.items():
                if low in (a.lower() for a in DEFAULT_ALIASES):
                    continue
                old = self.views.get(low)
                if old is not None and old.spec == spec and not reset:
                    views[low] = old
                    continue
                dkey = (low, spec["incidents"], spec["seed"])
                data = self.data.get(dkey)
                if data is None:
                    data = self.data[dkey] = TenantData(spec["id"], spec["incidents"], spec["seed"])
                elif reset:
                    data.regenerate_if_changed()
                views[low] = old if (old is not None and old.spec == spec) else TenantView(base, data, spec)
            self.views = views
            live = set((low, s["incidents"], s["seed"]) for low, s in self.specs.items())
            self.data = {k: v for k, v in self.data.items() if k in live}


registry_for = PerState(Registry, synced=True).get    # registry_for(state) -> its Registry


def is_default(tenant):
    return tenant.lower() in (a.lower() for a in DEFAULT_ALIASES)


def known(base, tenant):
    """True when a token may be issued for `tenant` (its URL segment)."""
    return is_default(tenant) or tenant.lower() in registry_for(base).specs


def canonical(base, tenant):
    """The tenant id a token issued at /{tenant}/ carries."""
    if is_default(tenant):
        return DEFAULT_TENANT
    spec = registry_for(base).specs.get(tenant.lower())
    return spec["id"] if spec else tenant


def tenant_of(req):
    """The tenant id of the request's token (the default tenant when none)."""
    token = getattr(req, "token", None)
    return getattr(token, "tenant", None) or DEFAULT_TENANT


def enter(req):
    """Pipeline hook after a successful bearer check: switch req.state to the
    token's tenant's view.  Returns the tenant id."""
    tenant = tenant_of(req)
    if not is_default(tenant):
        view = registry_for(req.state).views.get(tenant.lower())
        if view is not None:
            req.state = view
    return tenant


def delay(base, tenant):
    """Wait the tenant's own latency_ms (on top of the global latency_ms)."""
    spec = registry_for(base).specs.get(tenant.lower())
    if spec is not None and spec["latency_ms"] > 0:
        base.sleep(spec["latency_ms"] / 1000.0)


# --------------------------------------------------------------------------
# Control API

def _ok(obj, status=200):
    return Response(status=status, obj=obj, content_type=PLAIN_JSON)


def _token_counts(base):
    """Tokens issued so far per tenant id (lower-cased)."""
    counts = {}
    for token in base.all_tokens():
        info = base.find_token(token)
        tenant = (getattr(info, "tenant", None) or DEFAULT_TENANT).lower()
        counts[tenant] = counts.get(tenant, 0) + 1
    return counts


def _describe(base, spec, view, tokens):
    out = {"id": spec["id"], "name": spec["name"], "latency_ms": spec["latency_ms"],
           "seed": spec["seed"], "hunting_seed": spec["hunting_seed"],
           "tokens_issued": tokens.get(spec["id"].lower(), 0)}
    target = base if view is None else view
    out["incidents"] = len(target.incidents_snapshot())
    out["alerts"] = len(target.alerts_snapshot())
    return out


def control_list(req):
    """GET /_emulator/tenants: every tenant with its settings and counts."""
    base = req.state
    reg = registry_for(base)
    default = reg.specs.get(DEFAULT_TENANT.lower()) or dict(
        derived_settings(DEFAULT_TENANT), id=DEFAULT_TENANT, name=DEFAULT_TENANT, latency_ms=0)
    default = dict(default, incidents=base.config["incidents"], seed=base.config["seed"],
                   hunting_seed=base.config.get("hunting_seed", 1))
    tokens = _token_counts(base)
    out = [_describe(base, default, None, tokens)]
    for low, spec in reg.specs.items():
        if not is_default(low):
            out.append(_describe(base, spec, reg.views[low], tokens))
    return _ok({"tenants": out})


def _target(req):
    tid = req.params["tenant"]
    if is_default(tid):
        return req.state
    return registry_for(req.state).views.get(tid.lower())


def control_incidents(req):
    """GET /_emulator/tenants/<id>/incidents: that tenant's incidents."""
    target = _target(req)
    if target is None:
        return _ok({"error": "no tenant %s" % req.params["tenant"]}, 404)
    return _ok({"value": [strip_private(i) for i in target.incidents_snapshot()]})


def control_alerts(req):
    """GET /_emulator/tenants/<id>/alerts: that tenant's alerts_v2 objects."""
    target = _target(req)
    if target is None:
        return _ok({"error": "no tenant %s" % req.params["tenant"]}, 404)
    return _ok({"value": [strip_private(a) for a in target.alerts_snapshot()]})


CONTROL_ROUTES = [
    ("GET", r"/_emulator/tenants", control_list),
    ("GET", r"/_emulator/tenants/(?P<tenant>[^/]+)/incidents", control_incidents),
    ("GET", r"/_emulator/tenants/(?P<tenant>[^/]+)/alerts", control_alerts),
]
