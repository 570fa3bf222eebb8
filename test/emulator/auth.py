"""Microsoft Entra emulation: the client-credentials token endpoint, Entra's
error body, and bearer-token checks for Graph (and later MDE) routes.

Tokens are opaque random strings kept in State.tokens; each remembers its
audience (the scope minus "/.default") and expiry.  Routes compare only the
audience's URL path ("" for Graph, "/mde" for Defender for Endpoint), so
localhost vs 127.0.0.1 in the scope does not matter.
"""

import base64
import secrets
import time
import urllib.parse

import assertion
import tenants
from common import Response, PLAIN_JSON, graph_error, is_guid, new_guid, utcnow


class Client:
    """A registered application: its secret and whether that secret expired."""

    def __init__(self, secret, expired=False):
        self.secret = secret
        self.expired = expired


CLIENTS = {
    "11111111-1111-1111-1111-111111111111": Client("test-secret-value"),
    "22222222-2222-2222-2222-222222222222": Client("expired-secret-value", expired=True),
}

# Resource app ids accepted as a scope ("<appId>/.default") -> audience path.
APP_ID_AUDIENCE_PATHS = {
    "00000003-0000-0000-c000-000000000000": "",       # Microsoft Graph
    "fc780465-2017-40d4-a0c5-307022471b92": "/mde",   # WindowsDefenderATP
}

GRANT_CLIENT_CREDENTIALS = "client_credentials"


class TokenInfo:
    """What the emulator remembers about one issued access token."""

    def __init__(self, token, client_id, audience, audience_path, lifetime):
        self.token = token
        self.client_id = client_id
        self.audience = audience
        self.audience_path = audience_path
        self.issued = time.monotonic()
        self.expires_at = self.issued + lifetime
        self.revoked = False


# --------------------------------------------------------------------------
# Entra error body

def _entra_timestamp():
    return utcnow().strftime("%Y-%m-%d %H:%M:%SZ")


def entra_error(req, status, error, aadsts, text):
    """Entra's OAuth error body.  error_description carries the AADSTS text
    followed by trace/correlation/timestamp lines joined with CRLF."""
    trace_id = new_guid()
    sent = req.header("client-request-id")
    correlation_id = sent if sent and is_guid(sent) else new_guid()
    stamp = _entra_timestamp()
    description = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
        aadsts, text, trace_id, correlation_id, stamp)
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [aadsts],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % aadsts,
    }
    return Response(status=status, obj=body, content_type=PLAIN_JSON,
                    headers=_entra_headers(trace_id, sent))


def _entra_headers(request_id, client_request_id):
    headers = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
               ("x-ms-request-id", request_id)]
    if client_request_id:
        headers.append(("client-request-id", client_request_id))
    return headers


def _missing(req, name):
    return entra_error(req, 400, "invalid_request", 900144,
                       "The request body must contain the following parameter: '%s'." % name)


# --------------------------------------------------------------------------
# Token endpoint

def _credentials(req):
    """Form fields, with client_id/client_secret from HTTP Basic if present."""
    content_type = (req.header("content-type") or "").lower()
    form = req.form() if (not content_type or "x-www-form-urlencoded" in content_type) else {}
    auth = req.header("authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            cid, _, secret = decoded.partition(":")
            form.setdefault("client_id", urllib.parse.unquote_plus(cid))
            form.setdefault("client_secret", urllib.parse.unquote_plus(secret))
        except (ValueError, UnicodeDecodeError):
            pass
    return form


def _audience_path(resource):
    """The audience path for a scope's resource part, or None if unusable."""
    if resource.lower() in APP_ID_AUDIENCE_PATHS:
        return APP_ID_AUDIENCE_PATHS[resource.lower()]
    parts = urllib.parse.urlsplit(resource)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.path.rstrip("/")


def token_endpoint(req):
    """POST /{tenant}/oauth2/v2.0/token: client credentials grant.

    Checks run in the order Entra appears to use: tenant, grant type, client,
    secret, scope."""
    tenant = req.params["tenant"]
    if tenant.lower() in ("common", "consumers"):
        return entra_error(req, 400, "invalid_request", 9001023,
                           "The grant type isn't supported over the /common or /consumers endpoints. "
                           "Please use the /organizations or tenant-specific endpoint.")
    if not tenants.known(req.state, tenant):
        return entra_error(req, 400, "invalid_request", 90002,
                           "Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                           "and are signing into the correct cloud. Check with your subscription "
                           "administrator, this may happen if there are no active subscriptions for "
                           "the tenant." % tenant)

    form = _credentials(req)
    grant_type = form.get("grant_type", "")
    if not grant_type:
        return _missing(req, "grant_type")
    if grant_type != GRANT_CLIENT_CREDENTIALS:
        return entra_error(req, 400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type '%s'." % grant_type)
    client_id = form.get("client_id", "")
    if not client_id:
        return _missing(req, "client_id")
    scope = form.get("scope", "")
    if not scope:
        return _missing(req, "scope")

    client = CLIENTS.get(client_id.lower())
    if client is None:
        return entra_error(req, 400, "unauthorized_client", 700016,
                           "Application with identifier '%s' was not found in the directory '%s'. "
                           "This can happen if the application has not been installed by the "
                           "administrator of the tenant or consented to by any user in the tenant. "
                           "You may have sent your authentication request to the wrong tenant."
                           % (client_id, tenant))
    if "client_assertion" in form or "client_assertion_type" in form:
        refused = _check_assertion(req, form, client_id)
        if refused is not None:
            return refused
        return _issue_token(req, client_id, scope, tenant)
    secret = form.get("client_secret", "")
    if not secret:
        return _missing(req, "client_secret")
    if client.expired:
        return entra_error(req, 401, "invalid_client", 7000222,
                           "The provided client secret keys for app '%s' are expired. Visit the "
                           "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                           "or consider using certificate credentials for added security: "
                           "https://aka.ms/certCreds." % client_id)
    if not secrets.compare_digest(secret.encode("utf-8"), client.secret.encode("utf-8")):
        return entra_error(req, 401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the "
                           "request is the client secret value, not the client secret ID, for a "
                           "secret added to app '%s'." % client_id)
    return _issue_token(req, client_id, scope, tenant)


def _check_assertion(req, form, client_id):
    """Entra's checks on a certificate credential; an error response or None."""
    if form.get("client_assertion_type", "") != assertion.JWT_BEARER:
        return entra_error(req, 400, "invalid_request", 70002 if form.get("client_assertion_type") else 900144,
                           "The request body must contain the following parameter: "
                           "'client_assertion_type' with the value '%s'." % assertion.JWT_BEARER)
    if not form.get("client_assertion"):
        return _missing(req, "client_assertion")
    if form.get("client_secret"):
        return entra_error(req, 400, "invalid_request", 90014,
                           "Only one client credential is allowed: client_secret and client_assertion "
                           "were both sent.")
    token_url = req.base_url + req.path
    try:
        assertion.verify(form["client_assertion"], client_id, token_url)
    except assertion.AssertionError_ as err:
        return entra_error(req, err.status, err.error, err.aadsts, err.text)
    return None


def _issue_token(req, client_id, scope, tenant):
    """The scope checks and the token, once the client is authenticated."""
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return entra_error(req, 400, "invalid_scope", 70011,
                           "The provided value for the input parameter 'scope' isn't valid. The "
                           "scope '%s' isn't valid. Client credential flows must have a scope value "
                           "with /.default suffixed to the resource identifier (application ID URI)."
                           % scope)
    audience = scopes[0][:-len("/.default")]
    audience_path = _audience_path(audience)
    if audience_path is None:
        return entra_error(req, 400, "invalid_resource", 500011,
                           "The resource principal named %s was not found in the tenant named %s. "
                           "This can happen if the application has not been installed by the "
                           "administrator of the tenant or consented to by any user in the tenant. "
                           "You might have sent your authentication request to the wrong tenant."
                           % (audience, tenant))

    lifetime = req.state.config["token_lifetime"]
    info = TokenInfo("emu_" + secrets.token_hex(20), client_id.lower(), audience,
                     audience_path, lifetime)
    info.tenant = tenants.canonical(req.state, tenant)   # the token's tenant claim (`tid`)
    req.state.add_token(info)
    body = {"token_type": "Bearer", "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime), "access_token": info.token}
    return Response(status=200, obj=body, content_type=PLAIN_JSON,
                    headers=_entra_headers(new_guid(), req.header("client-request-id")))


def token_wrong_method(req):
    """Any non-POST method on the token endpoint."""
    return entra_error(req, 400, "invalid_request", 900561,
                       "The endpoint only accepts POST requests. Received a %s request." % req.method)


# --------------------------------------------------------------------------
# Bearer checks for resource routes

WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')


def check_bearer(req, audience_path):
    """Validate the Authorization header for a route needing audience_path.

    Returns (ok, error_response); error_response is None when ok."""
    header = req.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False, _unauthorized(req, "Access token is empty.")
    info = req.state.find_token(token)
    if info is None:
        return False, _unauthorized(req, "Access token validation failure. Invalid token.")
    if info.revoked:
        return False, _unauthorized(
            req, "Continuous access evaluation resulted in challenge with result: "
                 "InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
    if time.monotonic() >= info.expires_at:
        return False, _unauthorized(req, "Access token has expired or is not yet valid.")
    if info.audience_path != audience_path:
        return False, _unauthorized(req, "Access token validation failure. Invalid audience.")
    req.token = info
    return True, None


def _unauthorized(req, message):
    return graph_error(req, 401, "InvalidAuthenticationToken", message,
                       headers=[("WWW-Authenticate", WWW_AUTHENTICATE)])
