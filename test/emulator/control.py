"""The test-control API under /_emulator/: never logged, never faulted, no
auth.  Answers plain JSON; errors are {"error": "<text>"} with 400/404/405.
"""

import assertion
import auth
import bandwidth          # noqa: F401  (registers its config key)
import faults
import generated_tables
import hunting
import quota
import tenants
from common import Response, PLAIN_JSON
from fixtures import strip_private
from state import validate_config


def _ok(obj, status=200):
    return Response(status=status, obj=obj, content_type=PLAIN_JSON)


def _bad(text, status=400):
    return _ok({"error": text}, status)


def _json_body(req):
    """The request body as JSON (None when empty); raises ValueError."""
    try:
        return req.json()
    except ValueError as err:
        raise ValueError("body is not valid JSON: %s" % err)


def get_requests(req):
    """GET /_emulator/requests[?since=N]"""
    since = req.query_dict().get("since", "0")
    try:
        since = int(since)
    except (TypeError, ValueError):
        return _bad("'since' must be an integer")
    return _ok({"requests": req.state.log_since(since)})


def get_connections(req):
    """GET /_emulator/connections: {"accepted": N}, TCP connections accepted
    since startup (control connections included; never reset)."""
    return _ok({"accepted": req.state.connections_accepted()})


def get_tokens(req):
    """GET /_emulator/tokens: every access token issued so far."""
    return _ok({"tokens": req.state.all_tokens()})


def get_incidents(req):
    """GET /_emulator/incidents: the fixture rows in default order."""
    return _ok({"value": [strip_private(i) for i in req.state.incidents_snapshot()]})


def get_alerts(req):
    """GET /_emulator/alerts: the alerts_v2 fixture rows in default order."""
    return _ok({"value": [strip_private(a) for a in req.state.alerts_snapshot()]})


def get_config(req):
    """GET /_emulator/config: the settings in force."""
    with req.state.lock:
        return _ok(dict(req.state.config))


def _with_config(req, apply):
    try:
        overrides = validate_config(_json_body(req))
    except ValueError as err:
        return _bad(str(err))
    apply(overrides)
    return _ok({"ok": True})


def post_reset(req):
    """POST /_emulator/reset [{"incidents","seed","token_lifetime","latency_ms"}]"""
    return _with_config(req, req.state.reset)


def post_config(req):
    """POST /_emulator/config: same keys, nothing cleared."""
    return _with_config(req, req.state.configure)


def post_revoke_tokens(req):
    """POST /_emulator/revoke_tokens: reject every token issued so far."""
    req.state.revoke_all()
    return _ok({"ok": True})


def post_certificate(req):
    """POST /_emulator/certificates {"client_id", "pem"}: upload a certificate's
    public part to an application, as the portal's "Certificates & secrets" does."""
    try:
        body = _json_body(req)
        if not isinstance(body, dict) or not body.get("client_id") or not body.get("pem"):
            raise ValueError("expected {\"client_id\": ..., \"pem\": ...}")
        thumbprint = assertion.register(body["client_id"], body["pem"])
    except (ValueError, IndexError) as err:
        return _bad(str(err))
    return _ok({"ok": True, "thumbprint": thumbprint})


def post_client(req):
    """POST /_emulator/clients {"client_id", "secret"}: register an application
    or give it a new secret (the old one stops working at once), as rotating
    a secret in the portal does."""
    try:
        body = _json_body(req)
        if not isinstance(body, dict) or not body.get("client_id") or not body.get("secret"):
            raise ValueError("expected {\"client_id\": ..., \"secret\": ...}")
    except ValueError as err:
        return _bad(str(err))
    auth.CLIENTS[body["client_id"].lower()] = auth.Client(body["secret"])
    return _ok({"ok": True})


def get_certificates(req):
    """GET /_emulator/certificates?client_id=...: the registered thumbprints."""
    return _ok({"thumbprints": assertion.registered(req.query_dict().get("client_id", ""))})


def get_faults(req):
    return _ok({"faults": req.state.faults.describe()})


def post_faults(req):
    """POST /_emulator/faults: arm one fault object or a list of them."""
    try:
        body = _json_body(req)
        specs = body if isinstance(body, list) else [body]
        specs = [faults.validate(spec) for spec in specs]
    except ValueError as err:
        return _bad(str(err))
    return _ok({"ok": True, "armed": req.state.faults.arm(specs)})


def delete_faults(req):
    req.state.faults.clear()
    return _ok({"ok": True})


# (method, path regex, handler) -- consumed by routes.Router.
ROUTES = [
    ("GET", r"/_emulator/requests", get_requests),
    ("GET", r"/_emulator/tokens", get_tokens),
    ("GET", r"/_emulator/connections", get_connections),
    ("GET", r"/_emulator/incidents", get_incidents),
    ("GET", r"/_emulator/alerts", get_alerts),
    ("GET", r"/_emulator/config", get_config),
    ("POST", r"/_emulator/config", post_config),
    ("POST", r"/_emulator/reset", post_reset),
    ("POST", r"/_emulator/revoke_tokens", post_revoke_tokens),
    ("POST", r"/_emulator/certificates", post_certificate),
    ("GET", r"/_emulator/certificates", get_certificates),
    ("POST", r"/_emulator/clients", post_client),
    ("GET", r"/_emulator/faults", get_faults),
    ("POST", r"/_emulator/faults", post_faults),
    ("DELETE", r"/_emulator/faults", delete_faults),
] + tenants.CONTROL_ROUTES + quota.CONTROL_ROUTES + generated_tables.CONTROL_ROUTES + hunting.CONTROL_ROUTES


def not_found(req):
    return _bad("no control endpoint %s" % req.path, 404)


def method_not_allowed(req, allowed):
    resp = _bad("method %s not allowed on %s" % (req.method, req.path), 405)
    resp.headers.append(("Allow", ", ".join(allowed)))
    return resp
