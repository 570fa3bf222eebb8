"""The route table: which handler answers which (method, path), and which
"area" a path belongs to.

An area decides the rules a request lives under before any route matches:
  control  /_emulator/...         no auth, no log, no faults, plain JSON
  imds     /metadata/identity/... no bearer; the Azure instance metadata service (imds.py)
  entra    /{tenant}/oauth2/...   no bearer; Entra error shapes
  graph    /v1.0/..., /beta/...   bearer with audience path ""
  mde      /mde/...               bearer with audience path "/mde" (mde.py)
  other    anything else          404, Graph-shaped, no auth
To add an endpoint, write a handler (req -> Response) in its own module and
add a line to GRAPH_ROUTES (or a new list for a new area).
"""

import re

import actions
import alerts
import auth
import control
import hunting
import imds
import incidents
import mde
from common import graph_error


class Area:
    """Rules for one family of paths.  audience_path None = no bearer check."""

    def __init__(self, name, prefix_regex, audience_path, logged=True):
        self.name = name
        self.prefix = re.compile(prefix_regex, re.IGNORECASE)
        self.audience_path = audience_path
        self.logged = logged


# Checked in order; the first whose prefix matches wins.
AREAS = [
    Area("control", r"^/_emulator(/|$)", None, logged=False),
    Area("imds", r"^/metadata/identity(/|$)", None),
    Area("entra", r"^/[^/]+/oauth2(/|$)", None),
    Area("graph", r"^/(v1\.0|beta)(/|$)", ""),
    Area("mde", r"^/mde(/|$)", "/mde"),
    Area("other", r"", None),
]


def classify(path):
    for area in AREAS:
        if area.prefix.match(path):
            return area
    raise AssertionError("the last area matches everything")


VERSION = r"(?P<version>v1\.0|beta)"

GRAPH_ROUTES = [
    ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", auth.token_endpoint),
    ("GET", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", auth.token_wrong_method),
    ("GET", r"/metadata/identity/oauth2/token", imds.token),
    ("GET", r"/" + VERSION + r"/security/incidents/?", incidents.list_incidents),
    ("GET", r"/" + VERSION + r"/security/incidents/(?P<id>[^/]+)", incidents.get_incident),
    ("GET", r"/" + VERSION + r"/security/alerts_v2/?", alerts.list_alerts),
    ("GET", r"/" + VERSION + r"/security/alerts_v2/(?P<id>[^/]+)", alerts.get_alert),
    ("POST", r"/" + VERSION + r"/security/runHuntingQuery", hunting.run_hunting_query),
    ("PATCH", r"/" + VERSION + r"/security/incidents/(?P<id>[^/]+)", actions.patch_incident),
    ("POST", r"/" + VERSION + r"/security/incidents/(?P<id>[^/]+)/comments", actions.post_incident_comment),
    ("PATCH", r"/" + VERSION + r"/security/alerts_v2/(?P<id>[^/]+)", actions.patch_alert),
    ("POST", r"/" + VERSION + r"/security/alerts_v2/(?P<id>[^/]+)/comments", actions.post_alert_comment),
    ("GET", r"/mde/api/alerts/(?P<id>[^/]+)/domains", mde.alert_domains),
] + [(method, r"/" + VERSION + r"/emulatorEcho(/.*)?", actions.echo)
     for method in ("GET", "POST", "PUT", "PATCH", "DELETE")]


class Router:
    """Matches a request to a handler; full-path regexes, case-insensitive
    (Graph URL segments are).  Unknown path -> not_found(req); known path
    with another method -> method_not_allowed(req, allowed_methods)."""

    def __init__(self, routes, not_found, method_not_allowed):
        self._routes = [(m.upper(), re.compile(p, re.IGNORECASE), h) for m, p, h in routes]
        self._not_found = not_found
        self._method_not_allowed = method_not_allowed

    def dispatch(self, req):
        allowed = []
        for method, pattern, handler in self._routes:
            found = pattern.fullmatch(req.path)
            if not found:
                continue
            if method == req.method or (req.method == "HEAD" and method == "GET"):
                req.params = {k: v for k, v in found.groupdict().items() if v is not None}
                return handler(req)
            if method not in allowed:
                allowed.append(method)
        if allowed:
            return self._method_not_allowed(req, allowed)
        return self._not_found(req)


def graph_not_found(req):
    segment = req.path.rstrip("/").rsplit("/", 1)[-1]
    return graph_error(req, 404, "ResourceNotFound",
                       "Resource not found for the segment '%s'." % segment)


def graph_method_not_allowed(req, allowed):
    resp = graph_error(req, 405, "BadRequest",
                       "Specified HTTP method is not allowed for the request uri.")
    resp.headers.append(("Allow", ", ".join(allowed)))
    return resp


def build_routers():
    """(service router, control router)."""
    return (Router(GRAPH_ROUTES, graph_not_found, graph_method_not_allowed),
            Router(control.ROUTES, control.not_found, control.method_not_allowed))
